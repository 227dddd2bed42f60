"""The journey builder's use cases: read and save a draft with a version token, edit it by graph
operations, check it with the rules publishing applies, and compare it with the live version.

A draft is version 0 of the journey (``JourneyRepository.save_draft``): never run, skipped by reports,
replaced by each save. Every save goes through ``journey_document.format_text``, the same code as
``touchflow journey format``, and must carry the token of the text it started from: a stale token is a
``DraftConflict`` holding both texts, so the builder shows a merge view instead of overwriting.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from typing import Any

import yaml

from touchflow.domain.journeys.diff import JourneyDiff, diff_journeys
from touchflow.domain.journeys.document import (
    dump_document,
    format_text,
    load_checked,
    load_document,
    plain_data,
    version_token,
)
from touchflow.domain.journeys.edits import apply_ops, raw_edges
from touchflow.domain.journeys.fragments import notes_of
from touchflow.domain.journeys.parse import DefinitionError, parse_journey
from touchflow.domain.journeys.ports import JourneyRecord, JourneyVersionInfo
from touchflow.domain.journeys.schema import validate_against_schema
from touchflow.domain.journeys.settle import settle
from touchflow.domain.journeys.splice import splice_dump, touched_by
from touchflow.domain.journeys.transitions import ACTIVE_STATUSES
from touchflow.domain.safe_yaml import YamlTooLarge, load_yaml
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services import draft_trees
from touchflow.services.context import ServiceContext
from touchflow.services.journeys import JourneyError, publish_findings

__all__ = ["Draft", "DraftConflict", "DraftFinding", "Edited", "NoSuchVersion", "check_data", "check_text",
           "draft_diff", "edit_and_check", "edit_text", "graph_of", "graph_of_data", "list_versions", "node_of",
           "open_draft", "read_draft", "restore_version", "save_draft"]


@dataclass(frozen=True, slots=True)
class Draft:
    key: str
    text: str
    token: str
    live_version: int | None  # the published version, None before the first publish
    is_draft: bool  # True: unpublished edits; False: the text is the live version's


class DraftConflict(JourneyError):
    """The draft changed since the editor loaded it: both texts, for a merge view."""

    def __init__(self, current: Draft) -> None:
        super().__init__(f"journey {current.key} was saved by someone else meanwhile; merge and save again")
        self.current = current


@dataclass(frozen=True, slots=True)
class DraftFinding:
    code: str
    severity: str
    path: str
    message: str
    node: str | None  # the node the canvas pins it to; None: the journey's settings (trigger, goal …)

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "path": self.path, "message": self.message,
                "node": self.node}


def node_of(path: str) -> str | None:
    """``nodes.wait_open.timeout`` → ``wait_open``; ``journey.start`` → None."""
    if path.startswith("nodes."):
        return path[6:].split(".", 1)[0].split("[", 1)[0] or None
    return None


def _current(uow: UnitOfWork, record: JourneyRecord) -> Draft:
    text = uow.journeys.source_text(record.id, 0)
    if text is not None:
        return Draft(record.key, text, version_token(text), record.current_version, True)
    live = uow.journeys.source_text(record.id, record.current_version) if record.current_version else None
    text = format_text(live) if live is not None else ""
    return Draft(record.key, text, version_token(text), record.current_version, False)


def read_draft(ctx: ServiceContext, key: str) -> Draft:
    with ctx.reader() as uow:
        record = uow.journeys.get(key)
        if record is None:
            raise JourneyError(f"no journey {key}")
        return _current(uow, record)


def open_draft(ctx: ServiceContext, key: str) -> tuple[Draft, dict[str, Any], list[DraftFinding]]:
    """The draft, what the canvas draws and its findings, from one reading of the text: the builder page
    carries all three, so the canvas draws with its findings pinned without a request (time to interactive)."""
    draft = read_draft(ctx, key)
    data, kept, unreadable = _read(draft.text)
    if unreadable is not None:  # as check_text: one finding, the canvas stays empty
        return draft, graph_of_data({}), [unreadable]
    if not kept:
        draft_trees.keep(draft.text, None, data)  # the page's first lint or edit reads the kept data
    return draft, graph_of_data(data if draft.text.strip() else {}), check_data(ctx, data)


def save_draft(ctx: ServiceContext, key: str, text: str, *, if_match: str | None, actor: str,
               restored_from: int | None = None) -> Draft:
    """Save ``text`` (through the format path) as the draft if ``if_match`` is the current token; a new
    journey needs no token. The text must be a YAML mapping with this key; rules are not enforced here
    (a draft may be unfinished) — ``check_text`` reports them and publishing enforces them."""
    formatted, data = _formatted(text)
    if data.get("key") != key:
        raise DefinitionError("journey.key", f"must be {key!r}, the journey being edited")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        record = uow.journeys.get(key)
        if record is None:
            record = JourneyRecord(ctx.ids.new(now), key, str(data.get("name") or key), "draft", None, now, now)
            uow.journeys.add(record)
        else:
            current = _current(uow, record)
            if if_match != current.token:
                raise DraftConflict(current)
            if record.status == "archived":
                raise JourneyError(f"journey {key} is archived; draw it under a new key")
            uow.journeys.save(replace(record, updated_at=now))
        uow.journeys.save_draft(record.id, data, formatted, now, actor)
        if restored_from is None:
            uow.audit.record(actor, "journey.draft_save", key, {"token": version_token(formatted)}, now)
        else:
            uow.audit.record(actor, "journey.restore", key, {"version": restored_from,
                                                             "token": version_token(formatted)}, now)
        uow.commit()
    return Draft(key, formatted, version_token(formatted), record.current_version, True)


def check_text(ctx: ServiceContext, text: str) -> list[DraftFinding]:
    """Schema problems, then the parser's first problem or every rule publishing applies, each pinned to
    its node. The same functions decide publishing, so the canvas and publish never disagree."""
    data, _, unreadable = _read(text)
    return [unreadable] if unreadable is not None else check_data(ctx, data)


def _read(text: str) -> tuple[Any, bool, DraftFinding | None]:
    """``text`` read once: (its data, whether this process had kept it, None); or, when it is not readable
    YAML, (None, False, the one finding the editor shows instead of an error page)."""
    data = draft_trees.data_of(text)
    if data is not None:  # this process answered the text: read then
        return data, True, None
    try:
        return load_checked(text), False, None
    except (yaml.YAMLError, YamlTooLarge) as exc:
        return None, False, DraftFinding("yaml", "error", "journey", f"not valid YAML: {exc}", None)


def check_data(ctx: ServiceContext, data: object) -> list[DraftFinding]:
    """``check_text`` of a text already read (``load_yaml``, as ``load_definition`` reads it)."""
    findings: list[DraftFinding] = []
    for problem in validate_against_schema(data):
        findings.append(DraftFinding("schema", "error", problem.path, problem.message, node_of(problem.path)))
    try:
        if not isinstance(data, dict):  # what load_definition says
            raise DefinitionError("journey", "must be a mapping at the top level")
        definition = parse_journey(data)
    except DefinitionError as exc:
        if not any(f.path == exc.path for f in findings):
            findings.append(DraftFinding("definition", "error", exc.path, exc.reason, node_of(exc.path)))
        return findings
    with ctx.reader() as uow:
        rules = publish_findings(uow, definition, data, templates_required=True)
    findings += [DraftFinding(f.code, f.severity, f.path, f.message, node_of(f.path)) for f in rules]
    return findings


def edit_text(text: str, ops: list[object]) -> str:
    """``text`` with the graph operations applied; untouched parts keep their bytes."""
    doc = load_document(text) if text.strip() else load_document("{}\n")
    apply_ops(doc, ops)
    return dump_document(doc)


@dataclass(frozen=True, slots=True)
class Edited:
    text: str
    graph: dict[str, Any]
    findings: list[DraftFinding]


def edit_and_check(ctx: ServiceContext, text: str, ops: list[object]) -> Edited:
    """One canvas edit: the new text, what the canvas draws and the findings. The new text is read once
    (``load_yaml``, exactly as publishing reads it) and the graph and every check use that one reading."""
    doc = draft_trees.take(text) if text.strip() else None
    kept = doc is not None  # then ``text`` is the dump of ``doc``: its untouched entries can be copied
    if doc is None:
        doc = load_document(text) if text.strip() else load_document("{}\n")
    apply_ops(doc, ops)
    new_text = (splice_dump(text, doc, touched_by(ops)) if kept else None) or dump_document(doc)
    try:
        data = plain_data(doc, new_text)
    except (yaml.YAMLError, YamlTooLarge) as exc:  # pragma: no cover - ops cannot add aliases; as check_text
        return Edited(new_text, graph_of(""), [DraftFinding("yaml", "error", "journey", f"not valid YAML: {exc}",
                                                            None)])
    edited = Edited(new_text, graph_of_data(data), check_data(ctx, data))
    settle(doc)  # strings this edit set, typed as a fresh read of new_text would type them
    draft_trees.keep(new_text, doc, data)  # the canvas's next edit starts from this answer
    return edited


def _formatted(text: str) -> tuple[str, Any]:
    """``format_text(text)`` and what publishing reads from it; an answer of this process is its own format."""
    doc = draft_trees.take(text)
    if doc is not None:  # ``text`` was dumped from ``doc``: formatting it again gives the same bytes
        data = draft_trees.data_of(text)
        if data is None:
            data = plain_data(doc, text)
        draft_trees.keep(text, doc, data)
        return text, data
    doc = load_document(text)
    formatted = dump_document(doc)
    data = plain_data(doc, formatted)
    draft_trees.keep(formatted, doc, data)
    return formatted, data


def graph_of(text: str) -> dict[str, Any]:
    """What the canvas draws: nodes (id, kind, fields, position) and edges, read from the text as written."""
    if not text.strip():
        return graph_of_data({})
    data = draft_trees.data_of(text)
    return graph_of_data(load_yaml(text) if data is None else data)


def graph_of_data(data: object) -> dict[str, Any]:
    """``graph_of`` of a text already read."""
    data = data if isinstance(data, dict) else {}
    nodes: dict[str, Any] = data["nodes"] if isinstance(data.get("nodes"), dict) else {}
    layout: dict[str, Any] = data["layout"] if isinstance(data.get("layout"), dict) else {}
    out_nodes, edges = [], []
    for index, (node_id, node) in enumerate(nodes.items()):
        spot = layout.get(node_id) if isinstance(layout.get(node_id), dict) else None
        fields = node if isinstance(node, dict) else {}
        out_nodes.append({"id": str(node_id), "kind": str(fields.get("kind", "")), "fields": fields,
                          "position": {"x": spot.get("x", 0), "y": spot.get("y", 0)} if spot else None,
                          "order": index})
        edges += [{"from": str(node_id), "edge": name, "to": target} for name, target in raw_edges(node)]
    settings = {k: v for k, v in data.items() if k not in ("nodes", "layout")}
    return {"settings": settings, "nodes": out_nodes, "edges": edges, "notes": notes_of(data)}


def draft_diff(ctx: ServiceContext, key: str) -> tuple[JourneyDiff, str, str]:
    """The draft against the live version: the semantic diff, a unified YAML diff and the live text (the
    canvas draws the removed nodes from it)."""
    with ctx.reader() as uow:
        record = uow.journeys.get(key)
        if record is None:
            raise JourneyError(f"no journey {key}")
        draft = _current(uow, record)
        live_text = uow.journeys.source_text(record.id, record.current_version) if record.current_version else ""
    live_text = live_text or ""
    live = load_yaml(live_text) if live_text.strip() else {}
    new = load_yaml(draft.text) if draft.text.strip() else {}
    unified = "".join(difflib.unified_diff(live_text.splitlines(keepends=True), draft.text.splitlines(keepends=True),
                                           f"{key} v{record.current_version or 0}", f"{key} draft"))
    semantic = diff_journeys(live if isinstance(live, dict) else {}, new if isinstance(new, dict) else {})
    return semantic, unified, live_text


class NoSuchVersion(JourneyError):
    """The journey exists but has no published version with that number."""


def list_versions(ctx: ServiceContext, key: str) -> tuple[int | None, list[JourneyVersionInfo]]:
    """The live version and every published one, newest first, with the contacts still running on each."""
    with ctx.reader() as uow:
        record = uow.journeys.get(key)
        if record is None:
            raise JourneyError(f"no journey {key}")
        return record.current_version, uow.journeys.versions(record.id, ACTIVE_STATUSES)


def restore_version(ctx: ServiceContext, key: str, version: int, *, if_match: str | None, actor: str) -> Draft:
    """Load published ``version`` as the draft (If-Match as any save; audit ``journey.restore``). Nothing
    runs differently until the draft is published, which makes a new immutable version; contacts already
    in the journey finish on the version they entered."""
    with ctx.reader() as uow:
        record = uow.journeys.get(key)
        if record is None:
            raise JourneyError(f"no journey {key}")
        text = uow.journeys.source_text(record.id, version) if version > 0 else None
    if text is None:
        raise NoSuchVersion(f"journey {key} has no version {version}")
    return save_draft(ctx, key, text, if_match=if_match, actor=actor, restored_from=version)
