"""Sub-graphs as YAML text and sticky notes: copy keeps the nodes as written and drops edges leaving the selection;
paste renames taken ids, rewires the copy inside itself and places it; notes live in layout._notes, leave the rest of
the text byte for byte, are accepted by the schema and ignored by the parser; bad input names its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from touchflow.domain.journeys.document import dump_document, format_text, load_document
from touchflow.domain.journeys.edits import EditError, apply_ops
from touchflow.domain.journeys.fragments import FRAGMENT_HEAD, copy_fragment, notes_of
from touchflow.domain.journeys.parse import parse_journey
from touchflow.domain.journeys.schema import validate_against_schema
from touchflow.domain.safe_yaml import load_yaml

RULE_A = (Path(__file__).parents[2] / "examples" / "journeys" / "rule_a_whitepaper.yaml").read_text(encoding="utf-8")


def _edit(text: str, ops: list[object]) -> str:
    doc = load_document(text)
    apply_ops(doc, ops)
    return dump_document(doc)


def test_copy_keeps_the_selection_as_written_and_drops_edges_that_leave_it() -> None:
    fragment = copy_fragment(RULE_A, ["wecom_followup", "cs_task"])
    assert fragment.startswith(f"{FRAGMENT_HEAD}: wecom_followup, cs_task\n")
    data = load_yaml(fragment)
    assert list(data["nodes"]) == ["wecom_followup", "cs_task"]
    assert data["nodes"]["wecom_followup"]["next"] == "cs_task"  # inside: kept
    assert "next" not in data["nodes"]["cs_task"]  # to `done`, outside: dropped
    assert data["nodes"]["cs_task"]["title"] == "白皮书下载未打开邮件，企微跟进"
    with pytest.raises(EditError) as caught:
        copy_fragment(RULE_A, ["nope"])
    assert caught.value.path == "nodes"


def test_paste_into_the_same_journey_renames_and_rewires_the_copy() -> None:
    fragment = copy_fragment(RULE_A, ["wecom_followup", "cs_task"])
    pasted = _edit(RULE_A, [{"op": "paste", "fragment": fragment, "dx": 40, "dy": 60}])
    assert pasted.startswith(RULE_A.rstrip("\n"))  # everything before stays byte for byte
    data = load_yaml(pasted)
    assert data["nodes"]["wecom_followup_2"]["next"] == "cs_task_2"
    assert data["nodes"]["wecom_followup_2"]["template"] == "whitepaper_followup_cs"
    assert data["layout"]["wecom_followup_2"] == {"x": 40, "y": 60}  # no position in the source: stacked
    assert data["layout"]["cs_task_2"] == {"x": 40, "y": 200}
    parse_journey(data)  # still a journey the engine reads
    again = _edit(pasted, [{"op": "paste", "fragment": fragment}])
    assert "wecom_followup_3" in load_yaml(again)["nodes"]


def test_paste_across_journeys_and_positions_carry_over() -> None:
    moved = _edit(RULE_A, [{"op": "move", "id": "engaged", "x": 100, "y": 300}])
    fragment = copy_fragment(moved, ["engaged", "done"])
    other = "key: other\ntrigger: {event: signup}\nnodes:\n  hello: {kind: send, channel: email, template: t}\n"
    pasted = load_yaml(_edit(other, [{"op": "paste", "fragment": fragment, "dx": 10, "dy": 10}]))
    assert list(pasted["nodes"]) == ["hello", "engaged", "done"]  # free ids are kept
    assert pasted["nodes"]["engaged"]["next"] == "done"
    assert pasted["layout"]["engaged"] == {"x": 110, "y": 310}


@pytest.mark.parametrize(("fragment", "field"), [
    ("", "ops[0].fragment"), ("nodes: [1, 2]", "ops[0].fragment"),
    ("nodes: {end: {kind: exit}}", "ops[0].fragment.nodes"),
    ("nodes: {a: {next: b}}", "ops[0].fragment.nodes.a"), ("{{{", "ops[0].fragment"),
])
def test_a_bad_fragment_names_its_field(fragment: str, field: str) -> None:
    with pytest.raises(EditError) as caught:
        _edit(RULE_A, [{"op": "paste", "fragment": fragment}])
    assert caught.value.path == field


def test_a_bad_shift_names_its_field() -> None:
    with pytest.raises(EditError) as caught:
        _edit(RULE_A, [{"op": "paste", "fragment": "nodes: {a: {kind: wait, duration: {x: [1, {y: 2}]}}}",
                        "dx": "far"}])
    assert caught.value.path == "ops[0].dx"


def test_notes_live_in_the_layout_key_and_change_nothing_that_runs() -> None:
    noted = _edit(RULE_A, [{"op": "note", "id": "n1", "x": 10.4, "y": 20, "text": "周五前请法务确认文案"}])
    assert noted.startswith(RULE_A.rstrip("\n")) and format_text(noted) == noted
    data = load_yaml(noted)
    assert notes_of(data) == [{"id": "n1", "x": 10, "y": 20, "text": "周五前请法务确认文案"}]
    assert validate_against_schema(data) == []
    assert parse_journey(data) == parse_journey(load_yaml(RULE_A))
    moved = _edit(noted, [{"op": "note", "id": "n1", "x": 50, "y": 60}])
    assert notes_of(load_yaml(moved)) == [{"id": "n1", "x": 50, "y": 60, "text": "周五前请法务确认文案"}]
    assert _edit(moved, [{"op": "note", "id": "n1", "text": None}]) == _edit(RULE_A, [
        {"op": "note", "id": "n1", "x": 0, "y": 0, "text": "x"}, {"op": "note", "id": "n1", "text": None}])
    fragment = copy_fragment(noted, ["done"], ["n1"])
    pasted = load_yaml(_edit(noted, [{"op": "paste", "fragment": fragment, "dx": 5, "dy": 5}]))
    assert [n["id"] for n in notes_of(pasted)] == ["n1", "n1_2"]
    for op, field in (({"id": "_x", "text": "a"}, "ops[0].id"), ({"id": "n", "text": 3}, "ops[0].text"),
                      ({"id": "n", "x": "left", "text": "a"}, "ops[0].x"),
                      ({"id": "n", "text": "a" * 2001}, "ops[0].text")):
        with pytest.raises(EditError) as caught:
            _edit(RULE_A, [{"op": "note", **op}])
        assert caught.value.path == field
    with pytest.raises(EditError) as caught:
        _edit(RULE_A, [{"op": "explode"}])
    assert caught.value.path == "ops[0].op" and "paste" in str(caught.value) and "note" in str(caught.value)
