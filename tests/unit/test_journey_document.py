"""The builder's save path: exact round trip of hand-written journeys, graph edits that keep untouched bytes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from touchflow.domain.journeys.document import dump_document, format_text, load_document, plain_data, version_token
from touchflow.domain.journeys.edits import EditError, apply_ops
from touchflow.domain.journeys.parse import parse_journey
from touchflow.domain.safe_yaml import load_yaml
from touchflow.services.journey_drafts import edit_text, graph_of, node_of

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "journeys").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_comes_out_byte_for_byte(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_text(text) == text


_EVENTS = ["content_download", "order_paid", "signed_up", "message_opened", "cart_abandoned", "form_submitted"]
_WORDS = ["白皮书", "digest", "跟进", "welcome", "案例", "survey", "客服 follow-up", "a: colon", "# not a comment"]


def _scalar(rng: random.Random) -> str:
    word = rng.choice(_WORDS)
    style = rng.randrange(3)
    if ": " in word or word.startswith("#"):
        style = 1 + rng.randrange(2)
    return word if style == 0 else f"'{word}'" if style == 1 else f'"{word}"'


def _comment(rng: random.Random) -> str:
    return f"  # {rng.choice(_WORDS)}" if rng.random() < 0.3 else ""


def _journey(seed: int) -> str:
    """A hand-written-looking journey in the house style: comments, quotes, flow and block lists, Chinese."""
    rng = random.Random(seed)
    count = rng.randrange(1, 12)
    ids = [f"n{i}_{rng.choice(['send', 'wait', 'step'])}" for i in range(count)]
    lines = [f"# journey {seed}: {rng.choice(_WORDS)}"] if rng.random() < 0.7 else []
    lines += [f"key: gen_{seed}", f"name: {_scalar(rng)}{_comment(rng)}"]
    if rng.random() < 0.5:
        lines += ["trigger:", f"  event: {rng.choice(_EVENTS)}", "  properties: {content_type: whitepaper}"]
    else:
        lines += [f"trigger: {{after_event: {rng.choice(_EVENTS)}, delay: {rng.randrange(1, 40)}d}}"]
    if rng.random() < 0.5:
        lines += ["exit_when: [unsubscribed, complained]"] if rng.random() < 0.5 else [
            "exit_when:", "  - unsubscribed", "  - {event: order_paid}"]
    lines.append("nodes:")
    for index, node_id in enumerate(ids):
        nxt = ids[index + 1] if index + 1 < count else "end"
        if rng.random() < 0.2:
            lines.append(f"  # {rng.choice(_WORDS)}")
        lines.append(f"  {node_id}:{_comment(rng)}")
        kind = rng.choice(["send", "wait", "update_contact", "branch"])
        if kind == "send":
            lines += ["    kind: send", f"    channel: {rng.choice(['email', 'sms', 'wecom'])}",
                      f"    template: t_{rng.randrange(100)}{_comment(rng)}"]
            if rng.random() < 0.5:
                lines += ["    fallback: [sms]", f"    retry: {{attempts: {rng.randrange(1, 5)}, backoff: 10m}}"]
        elif kind == "wait":
            lines += ["    kind: wait", f"    duration: {rng.randrange(1, 99)}{rng.choice('dhm')}"]
        elif kind == "update_contact":
            lines += ["    kind: update_contact", "    add_tags:", f"      - {_scalar(rng)}", "      - vip"]
        else:
            lines += ["    kind: branch", "    cases:", f"      - if: {{event: {rng.choice(_EVENTS)}, within: 7d}}",
                      f"        next: {nxt}", f"    else: {nxt}"]
            continue
        lines.append(f"    next: {nxt}")
    if rng.random() < 0.3:
        lines += ["layout:"] + [f"  {node_id}: {{x: {rng.randrange(900)}, y: {rng.randrange(-50, 900)}}}"
                                for node_id in ids]
    return "\n".join(lines) + "\n"


def test_a_generated_corpus_of_hand_written_journeys_round_trips() -> None:
    for seed in range(400):
        text = _journey(seed)
        parse_journey(load_yaml(text))  # the corpus is made of real journeys
        assert format_text(text) == text, seed


def test_format_is_idempotent_and_keeps_comments_when_it_reshapes() -> None:
    text = "key: x   # the key\nnodes:\n    a:\n        kind: exit\ntrigger: {manual: true}\n"
    once = format_text(text)
    assert once != text and "# the key" in once and format_text(once) == once
    assert list(load_yaml(once)) == ["key", "nodes", "trigger"]


def test_the_token_is_a_hash_of_the_bytes() -> None:
    assert version_token("a") == version_token("a") != version_token("a ")


RULE_A = (Path(__file__).parents[2] / "examples" / "journeys" / "rule_a_whitepaper.yaml").read_text(encoding="utf-8")


def test_moving_a_node_only_adds_the_layout_and_keeps_every_other_byte() -> None:
    edited = edit_text(RULE_A, [{"op": "move", "id": "send_digest", "x": 10.4, "y": 20}])
    assert edited.startswith(RULE_A) and edited[len(RULE_A):] == "layout:\n  send_digest: {x: 10, y: 20}\n"
    again = edit_text(edited, [{"op": "move", "id": "send_digest", "x": 30, "y": 40}])
    assert again == RULE_A + "layout:\n  send_digest: {x: 30, y: 40}\n"


def test_setting_a_field_changes_that_line_only() -> None:
    edited = edit_text(RULE_A, [{"op": "set_field", "node": "wait_engagement", "path": ["timeout"], "value": "2d"}])
    assert edited == RULE_A.replace("    timeout: 3d\n", "    timeout: 2d\n")
    same = edit_text(RULE_A, [{"op": "set_field", "node": None, "path": ["exit_when"],
                               "value": ["unsubscribed", "complained"]}])
    assert same == RULE_A  # an equal value keeps its spelling


def test_rule_a_built_from_an_empty_canvas_equals_the_example_as_parsed() -> None:
    ops: list[object] = [
        {"op": "set_field", "node": None, "path": ["key"], "value": "rule_a_whitepaper"},
        {"op": "set_field", "node": None, "path": ["name"], "value": "规则A：白皮书下载跟进"},
        {"op": "set_field", "node": None, "path": ["description"], "value": (
            "Whitepaper digest by email; no engagement in 3 days → customer service follows up on WeCom.")},
        {"op": "set_field", "node": None, "path": ["trigger"],
         "value": {"event": "content_download", "properties": {"content_type": "whitepaper"}}},
        {"op": "set_field", "node": None, "path": ["entry"], "value": {"max_entries": 3, "cooldown": "30d"}},
        {"op": "set_field", "node": None, "path": ["exit_when"], "value": ["unsubscribed", "complained"]},
        {"op": "set_field", "node": None, "path": ["goal"], "value": {"event": "order_paid"}},
        {"op": "add_node", "id": "send_digest", "kind": "send", "fields": {
            "channel": "email", "template": "whitepaper_digest", "fallback": ["sms"],
            "retry": {"attempts": 3, "backoff": "10m"}}},
        {"op": "add_node", "id": "wait_engagement", "kind": "wait_event", "fields": {
            "events": ["message_opened", "message_clicked"], "of_message": "send_digest", "timeout": "3d"}},
        {"op": "add_node", "id": "wecom_followup", "kind": "send",
         "fields": {"channel": "wecom", "template": "whitepaper_followup_cs"}},
        {"op": "add_node", "id": "cs_task", "kind": "task",
         "fields": {"queue": "service", "title": "白皮书下载未打开邮件，企微跟进", "sla": "2h"}},
        {"op": "add_node", "id": "engaged", "kind": "update_contact", "fields": {"add_tags": ["whitepaper_engaged"]}},
        {"op": "add_node", "id": "done", "kind": "exit"},
        {"op": "connect", "from": "send_digest", "edge": "next", "to": "wait_engagement"},
        {"op": "connect", "from": "wait_engagement", "edge": "on_event", "to": "engaged"},
        {"op": "connect", "from": "wait_engagement", "edge": "on_timeout", "to": "wecom_followup"},
        {"op": "connect", "from": "wecom_followup", "edge": "next", "to": "cs_task"},
        {"op": "connect", "from": "cs_task", "edge": "next", "to": "done"},
        {"op": "connect", "from": "engaged", "edge": "next", "to": "done"},
        {"op": "move", "id": "done", "x": 0, "y": 0},
    ]
    built = load_yaml(edit_text("", ops))
    assert built.pop("layout") == {"done": {"x": 0, "y": 0}}
    assert built == load_yaml(RULE_A)
    assert parse_journey(built) == parse_journey(load_yaml(RULE_A))


def test_deleting_a_node_removes_the_edges_into_it_and_its_layout() -> None:
    text = edit_text(RULE_A, [{"op": "move", "id": "cs_task", "x": 1, "y": 2}, {"op": "delete_node", "id": "cs_task"}])
    data = load_yaml(text)
    assert "cs_task" not in data["nodes"] and "next" not in data["nodes"]["wecom_followup"]
    assert data["layout"] == {}
    assert "# 规则A (J3)" in text  # the comments stay


@pytest.mark.parametrize(("op", "path"), [
    ({"op": "explode"}, "ops[0].op"),
    ({"op": "add_node", "id": "send_digest", "kind": "send"}, "ops[0].id"),
    ({"op": "add_node", "id": "9bad", "kind": "send"}, "ops[0].id"),
    ({"op": "connect", "from": "nope", "edge": "next", "to": "done"}, "ops[0].from"),
    ({"op": "connect", "from": "done", "edge": "sideways", "to": "done"}, "ops[0].edge"),
    ({"op": "connect", "from": "done", "edge": "cases.0", "to": "done"}, "ops[0].edge"),
    ({"op": "move", "id": "done", "x": "1", "y": 2}, "ops[0].x"),
    ({"op": "set_field", "node": "done", "path": []}, "ops[0].path"),
    ({"op": "set_field", "node": "done", "path": ["kind", "x"], "value": 1}, "ops[0].path[0]"),
    ("not an object", "ops[0]"),
])
def test_a_bad_operation_names_its_field(op: object, path: str) -> None:
    with pytest.raises(EditError) as caught:
        apply_ops(load_document(RULE_A), [op])
    assert caught.value.path == path


def test_the_graph_the_canvas_draws_and_findings_pinned_to_nodes() -> None:
    graph = graph_of(RULE_A)
    assert [n["id"] for n in graph["nodes"]][:2] == ["send_digest", "wait_engagement"]
    assert {"from": "wait_engagement", "edge": "on_timeout", "to": "wecom_followup"} in graph["edges"]
    assert {"from": "done", "edge": "next", "to": None} not in graph["edges"]
    assert node_of("nodes.wait_open.timeout") == "wait_open" and node_of("nodes.b.cases[0].next") == "b"
    assert node_of("trigger.event") is None


@pytest.mark.parametrize("value", ["on", "yes", "010", "1:30", "1e3", "0x1f", "2024-01-01", "null", "True", "a\x85b",
                                   "a\u2028b", "\x07", "x: y", " lead", "", "白皮书", 5, -3, 0, 1.5, True, None,
                                   ["on", 1], {"on": "1:2", "no": 1}])
def test_the_data_of_an_edit_is_what_publishing_reads_from_its_text(value: object) -> None:
    doc = load_document(RULE_A)
    apply_ops(doc, [{"op": "set_field", "node": "send_digest", "path": ["note"], "value": value},
                    {"op": "set_field", "node": None, "path": ["description"], "value": value}])
    text = dump_document(doc)
    assert plain_data(doc, text) == load_yaml(text)


def test_a_text_with_anchors_or_odd_numbers_is_read_from_its_text() -> None:
    text = "key: a\nbase: &b {x: 010}\nother: *b\nwhen: 2024-01-01\non: 1\n"
    doc = load_document(text)
    assert plain_data(doc, dump_document(doc)) == load_yaml(text)
    assert load_yaml(text)["base"]["x"] == 8 and True in load_yaml(text)  # YAML 1.1, as publishing reads it


@pytest.mark.parametrize("value", ["on", "yes", "no", "off", "y", "1:30", "010", "0x1f", "2024-01-01", "null", "True",
                                   "1e3", ["on", "no"], {"no": "page_view", "within": "60d"}, {"on": "1:2", "no": 1}])
def test_an_edit_is_read_back_as_the_strings_the_canvas_sent(value: object) -> None:
    """The condition head ``no`` (event did not happen) and strings YAML 1.1 reads as booleans, times or numbers are
    quoted, so publishing (PyYAML) reads exactly the JSON the browser sent."""
    edited = edit_text(RULE_A, [{"op": "set_field", "node": None, "path": ["exit_when", "2"], "value": value}])
    assert load_yaml(edited)["exit_when"][2] == value
    assert format_text(edited) == edited


def test_a_no_event_exit_rule_from_the_builder_parses() -> None:
    rule = {"any": [{"tag": "do_not_contact"}, {"no": "page_view", "within": "60d"}]}
    edited = edit_text(RULE_A, [{"op": "set_field", "node": None, "path": ["exit_when", "2"], "value": rule}])
    assert "{'no': page_view, within: 60d}" in edited
    assert parse_journey(load_yaml(edited)).exit_when is not None
