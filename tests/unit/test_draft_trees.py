"""An edit that starts from the tree this process kept gives the same bytes as one that reads the text again.

The canvas sends back each answer's text; the server edits the tree it kept for that text instead of reading
it (services/draft_trees). That is only allowed because, for every kind of edit, ``dump(edit(tree))`` equals
``dump(edit(load(dump(tree))))`` — checked here on every example and a generated corpus, along chains of
random edits, together with the plain data the builder draws and checks."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_journey_document import _journey
from touchflow.bootstrap import bootstrap
from touchflow.config import Settings
from touchflow.domain.journeys.document import dump_document, format_text, load_document, plain_data
from touchflow.domain.journeys.edits import EditError, apply_ops
from touchflow.domain.journeys.fragments import copy_fragment
from touchflow.domain.journeys.settle import settle
from touchflow.domain.journeys.splice import splice_dump, touched_by
from touchflow.domain.safe_yaml import load_yaml
from touchflow.services import draft_trees
from touchflow.services.journey_drafts import check_text, edit_and_check, graph_of, open_draft, save_draft

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "journeys").glob("*.yaml"))
_VALUES: list[Any] = ["2d", "xx", "on", "010", "a\nb", "白皮书 # 不是注释", "", 0, 7, -1, 1.5, True, None,
                      ["email", "sms"], {"event": "form_submit"}]


def _op(rng: random.Random, doc: Any, step: int) -> dict[str, Any]:
    nodes = list(doc.get("nodes") or {})
    pick = rng.choice(nodes) if nodes else None
    kind = rng.choice(["set", "set", "move", "move", "add", "connect", "delete", "note", "paste"])
    if kind == "set" and pick:
        return {"op": "set_field", "node": rng.choice([pick, None]) if step % 5 else pick,
                "path": [rng.choice(["duration", "note", "description"])], "value": rng.choice(_VALUES)}
    if kind == "move" and pick:
        return {"op": "move", "id": pick, "x": rng.choice([0, 0, 40, 240, -120]), "y": rng.choice([0, 80, 140])}
    if kind == "connect" and pick and len(nodes) > 1:
        return {"op": "connect", "from": pick, "edge": "next", "to": rng.choice([*nodes, None])}
    if kind == "delete" and pick and len(nodes) > 2:
        return {"op": "delete_node", "id": pick}
    if kind == "note":
        return {"op": "note", "id": f"note{step}", "x": rng.choice([0, 120]), "y": 0,
                "text": rng.choice(["记得审核", "a\nb"])}
    if kind == "paste" and pick:
        return {"op": "paste", "fragment": copy_fragment(dump_document(doc), [pick]), "dx": 40, "dy": 0}
    return {"op": "add_node", "id": f"added_{step}", "kind": "wait", "fields": {"duration": "3d"}}


def _drawn(text: str) -> str:
    """A hand-written journey as the canvas would have written it: no comments, no blank lines."""
    text = re.sub(r"(?m)^[ \t]*#.*\n|[ \t]+#[^'\"\n]*$", "", text)
    return re.sub(r"\n[ \t]*(?=\n)", "", text)


def _texts() -> list[str]:
    drawn = [_drawn(p.read_text(encoding="utf-8")) for p in EXAMPLES] + [_drawn(_journey(s)) for s in range(40)]
    return [t for t in drawn if draft_trees.reusable(t)]


def test_the_corpus_is_mostly_made_of_texts_whose_tree_is_kept() -> None:
    assert len(_texts()) >= 40


@pytest.mark.parametrize("index", range(40))
def test_editing_the_kept_tree_gives_the_bytes_of_reading_the_text_again(index: int) -> None:
    rng = random.Random(index)
    text = _texts()[index]
    kept = load_document(text)
    spliced_steps: list[bool] = []
    dumped = False
    for step in range(15):
        op = _op(rng, kept, step)
        fresh = load_document(text)
        try:
            apply_ops(fresh, [op])
        except EditError:
            with pytest.raises(EditError):
                apply_ops(load_document(text), [op])
            kept = load_document(text)  # a refused edit leaves a half-changed tree: the service drops it too
            continue
        if not draft_trees.reusable(text):
            kept = load_document(text)  # what the service does: it keeps no tree for such a text
        was_kept = dumped and draft_trees.reusable(text)  # the service splices only a text it dumped
        apply_ops(kept, [op])
        spliced = splice_dump(text, kept, touched_by([op])) if was_kept else None
        settle(kept)
        expected, got = dump_document(fresh), dump_document(kept)
        assert got == expected, f"step {step}: {op}"
        assert spliced is None or spliced == expected, f"step {step}: {op}"
        spliced_steps.append(spliced is not None)
        assert plain_data(kept, got) == load_yaml(got)
        text, dumped = got, True
    assert any(spliced_steps), "no edit of this chain was spliced: the test would check nothing"


def test_the_service_edits_the_kept_tree_and_answers_as_a_fresh_read(tmp_path: Path) -> None:
    app = bootstrap(Settings(f"sqlite:///{tmp_path / 'd.db'}", config_dir=str(tmp_path / "config")))
    app.init_database()
    text = next(t for t in _texts() if "nodes" in load_yaml(t))
    first = edit_and_check(app.services, text, [{"op": "move", "id": next(iter(load_yaml(text)["nodes"])),
                                                 "x": 0, "y": 0}])
    assert draft_trees.reusable(first.text)
    assert draft_trees.data_of(first.text) == load_yaml(first.text)
    assert graph_of(first.text) == edit_and_check(app.services, first.text, []).graph
    kept = draft_trees.take(first.text)  # the empty edit kept it again under the same text
    assert kept is not None and draft_trees.take(first.text) is None  # taken: nobody else changes it meanwhile
    kept["marker"] = "from-the-kept-tree"  # only an edit that starts from this very tree can answer it
    draft_trees.keep(first.text, kept, load_yaml(first.text))
    second = edit_and_check(app.services, first.text, [{"op": "set_field", "node": None, "path": ["description"],
                                                        "value": "新描述"}])
    assert "新描述" in second.text and "marker: from-the-kept-tree" in second.text
    assert draft_trees.take(first.text) is None and draft_trees.take(second.text) is not None
    third = edit_and_check(app.services, "# a comment\n" + first.text, [])
    assert draft_trees.take(third.text) is None  # a text with comments is read every time


def test_the_builder_page_carries_the_findings_lint_answers_from_one_reading(tmp_path: Path) -> None:
    app = bootstrap(Settings(f"sqlite:///{tmp_path / 'd.db'}", config_dir=str(tmp_path / "config")))
    app.init_database()
    rule_a = (Path(__file__).parents[2] / "examples" / "journeys" / "rule_a_whitepaper.yaml").read_text("utf-8")
    save_draft(app.services, "rule_a_whitepaper", rule_a.replace("    next: cs_task\n", "    next: nowhere\n"),
               if_match=None, actor="test")
    draft_trees.clear()  # a restarted process: the page reads the text
    draft, graph, findings = open_draft(app.services, "rule_a_whitepaper")
    assert draft_trees.data_of(draft.text) == load_yaml(draft.text)  # kept: the first lint reads it no more
    assert [f.as_json() for f in findings] == [f.as_json() for f in check_text(app.services, draft.text)]
    assert graph == graph_of(draft.text)
    broken = {f.path for f in findings if f.node == "wecom_followup" and f.severity == "error"}
    assert "nodes.wecom_followup.next" in broken
    text = draft.text
    for ops in ([{"op": "set_field", "node": "wecom_followup", "path": ["next"], "value": "cs_task"}],
                [{"op": "move", "id": "wecom_followup", "x": 40, "y": 80}],  # a new top-level entry: layout
                [{"op": "move", "id": "send_digest", "x": 0, "y": 0}],  # one entry of layout
                [{"op": "set_field", "node": None, "path": ["name"], "value": "白皮书 2"}]):
        answer = edit_and_check(app.services, text, ops)
        fresh = load_document(text)
        apply_ops(fresh, ops)
        assert answer.text == dump_document(fresh) == format_text(answer.text), ops
        text = answer.text
    assert "nodes.wecom_followup.next" not in {f.path for f in answer.findings}
