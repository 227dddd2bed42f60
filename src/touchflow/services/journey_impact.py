"""Impact preview before publishing (issue 16): where the journey's contacts are now, and what the draft changes.

What is true of versions here (services/journeys.py, engine/runtime.py): publishing stores an immutable
version and makes it current; a run keeps the version it entered with, so **no running contact moves** —
each one finishes on its version, at the node it is at, by that version's edges. Only new entrants take the
draft's path. The preview therefore says, per version and node, how many contacts are there and stay there,
whether the draft removes or changes that node (so new entrants would not reach it, or would meet it changed)
and where the draft sends new entrants from it.

Incoming events reach each run by its own version's event types (``engine/runtime.py``), so a draft that stops
waiting for an event changes nothing for the contacts already waiting for it on an older version.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from touchflow.domain.errors import FieldError
from touchflow.domain.journeys.diff import JourneyDiff, diff_journeys
from touchflow.domain.journeys.edits import raw_edges
from touchflow.domain.journeys.model import JourneyDefinition
from touchflow.domain.journeys.parse import DefinitionError, parse_journey
from touchflow.domain.journeys.transitions import ACTIVE_STATUSES
from touchflow.services.context import ServiceContext
from touchflow.services.journey_drafts import read_draft
from touchflow.services.journeys import JourneyError, load_definition

__all__ = ["ImpactPreview", "NodeImpact", "impact_preview"]


@dataclass(frozen=True)
class NodeImpact:
    version: int
    node: str
    kind: str
    running: int  # contacts at this node on this version: every one stays on it
    statuses: Mapping[str, int]  # waiting / active / paused
    in_draft: str  # unchanged | changed | removed
    changed: tuple[str, ...]  # the fields the draft changes on this node (changed)
    continues: Mapping[str, str | None]  # edge -> target on this version: where these contacts go next
    draft_next: Mapping[str, str | None] | None  # edge -> target in the draft: where new entrants go (None: removed)

    def as_json(self) -> dict[str, Any]:
        return {"version": self.version, "node": self.node, "kind": self.kind, "running": self.running,
                "stay": self.running, "move": 0, "statuses": dict(self.statuses), "in_draft": self.in_draft,
                "changed": list(self.changed), "continues": dict(self.continues),
                "draft_next": None if self.draft_next is None else dict(self.draft_next)}


@dataclass(frozen=True)
class ImpactPreview:
    key: str
    live_version: int | None
    diff: JourneyDiff  # the draft against the live version: what new entrants meet differently
    nodes: list[NodeImpact]
    versions: Mapping[int, int]  # version -> contacts running on it

    @property
    def running(self) -> int:
        return sum(self.versions.values())

    def as_json(self) -> dict[str, Any]:
        affected = [n for n in self.nodes if n.in_draft != "unchanged"]
        return {"key": self.key, "live_version": self.live_version, "running": self.running, "move": 0,
                "stay": self.running, "rule": "running contacts finish on the version they entered with",
                "versions": [{"version": v, "running": n, "current": v == self.live_version}
                             for v, n in sorted(self.versions.items(), reverse=True)],
                "at_changed_nodes": sum(n.running for n in affected),
                "nodes": [n.as_json() for n in self.nodes], "diff": self.diff.as_json()}


def _edges(node: object) -> dict[str, str | None]:
    return dict(raw_edges(node))


def _nodes_of(data: Mapping[str, Any]) -> Mapping[str, Any]:
    nodes = data.get("nodes")
    return nodes if isinstance(nodes, Mapping) else {}


def impact_preview(ctx: ServiceContext, key: str, text: str | None = None) -> ImpactPreview:
    """What publishing ``text`` (default: the saved draft) would do to the contacts in journey ``key`` now.

    Reads only. Raises ``JourneyError`` (no such journey) or ``FieldError`` naming ``definition.<path>``.
    """
    source = read_draft(ctx, key).text if text is None else text
    try:
        draft_data, draft = load_definition(source)
    except DefinitionError as exc:
        raise FieldError(f"definition.{exc.path}", exc.reason) from None
    if draft.key != key:
        raise FieldError("definition.key", f"is {draft.key!r}, but this is journey {key!r}")
    with ctx.reader() as uow:
        record = uow.journeys.get(key)
        if record is None:
            raise JourneyError(f"no journey {key}")
        rows = uow.journeys.running_at_nodes(record.id, ACTIVE_STATUSES)
        wanted = {v for v, *_ in rows} | ({record.current_version} if record.current_version else set())
        published = {v: uow.journeys.version(record.id, v) or {} for v in sorted(wanted)}
    live_data = published.get(record.current_version or 0, {})
    parsed: dict[int, JourneyDefinition | None] = {}
    for version, data in published.items():
        try:
            parsed[version] = parse_journey(data)
        except DefinitionError:  # an old version the parser no longer takes: its nodes are still shown
            parsed[version] = None
    per_node: dict[tuple[int, str], dict[str, int]] = defaultdict(dict)
    versions: dict[int, int] = defaultdict(int)
    for version, node_id, status, count in rows:
        per_node[(version, node_id)][status] = count
        versions[version] += count
    draft_nodes = _nodes_of(draft_data)
    found: list[NodeImpact] = []
    for (version, node_id), statuses in per_node.items():
        raw_nodes = _nodes_of(published.get(version, {}))
        raw = raw_nodes.get(node_id)
        kind = str(raw.get("kind", "")) if isinstance(raw, Mapping) else ""
        changed: tuple[str, ...]
        if node_id not in draft_nodes:
            in_draft, changed = "removed", ()
        else:
            changed = diff_journeys({"nodes": {node_id: raw}}, {"nodes": {node_id: draft_nodes[node_id]}}
                                    ).nodes_changed.get(node_id, ())
            edges_differ = _edges(raw) != _edges(draft_nodes[node_id])
            in_draft = "changed" if changed or edges_differ else "unchanged"
        found.append(NodeImpact(version, node_id, kind, sum(statuses.values()), dict(sorted(statuses.items())),
                                in_draft, changed, _edges(raw),
                                _edges(draft_nodes[node_id]) if node_id in draft_nodes else None))
    order = {n: i for i, n in enumerate(draft_nodes)}
    found.sort(key=lambda n: (-n.version, order.get(n.node, len(order)), n.node))
    semantic = diff_journeys(live_data if isinstance(live_data, Mapping) else {}, draft_data)
    live = parsed.get(record.current_version or 0)
    if "start" in semantic.settings_changed and live is not None and live.start == draft.start:
        # the saved text names its first node as ``start``; the published data may leave it implied
        semantic = replace(semantic, settings_changed=tuple(k for k in semantic.settings_changed if k != "start"))
    return ImpactPreview(key, record.current_version, semantic, found, dict(versions))
