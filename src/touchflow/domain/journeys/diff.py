"""Semantic diff of two journey definitions: nodes and edges added, removed or changed.

Shown beside the YAML diff before publishing, and drawn on the canvas. It works on the data as written
(not the parsed model), so a draft that does not parse yet still gets a diff; the layout key is left out
because moving a box changes nothing a contact would notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from touchflow.domain.journeys.document import LAYOUT_KEY
from touchflow.domain.journeys.edits import raw_edges

__all__ = ["JourneyDiff", "diff_journeys"]

Edge = tuple[str, str, str | None]  # (from node, edge name, target; None ends the run)


@dataclass(frozen=True, slots=True)
class JourneyDiff:
    nodes_added: tuple[str, ...] = ()
    nodes_removed: tuple[str, ...] = ()
    nodes_changed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # node → fields changed
    edges_added: tuple[Edge, ...] = ()
    edges_removed: tuple[Edge, ...] = ()
    settings_changed: tuple[str, ...] = ()  # top-level keys: trigger, goal, exit_when, entry …

    @property
    def empty(self) -> bool:
        return not (self.nodes_added or self.nodes_removed or self.nodes_changed or self.edges_added
                    or self.edges_removed or self.settings_changed)

    def as_json(self) -> dict[str, Any]:
        def edge(e: Edge) -> dict[str, str | None]:
            return {"from": e[0], "edge": e[1], "to": e[2]}

        return {"nodes_added": list(self.nodes_added), "nodes_removed": list(self.nodes_removed),
                "nodes_changed": {k: list(v) for k, v in self.nodes_changed.items()},
                "edges_added": [edge(e) for e in self.edges_added],
                "edges_removed": [edge(e) for e in self.edges_removed],
                "settings_changed": list(self.settings_changed), "empty": self.empty}


def _nodes(data: Mapping[str, Any]) -> Mapping[str, Any]:
    nodes = data.get("nodes")
    return nodes if isinstance(nodes, Mapping) else {}


def _edges(nodes: Mapping[str, Any]) -> set[Edge]:
    return {(str(node_id), name, target) for node_id, node in nodes.items() for name, target in raw_edges(node)}


def _without_next(items: list[Any]) -> list[Any]:
    return [{k: v for k, v in i.items() if k != "next"} if isinstance(i, Mapping) else i for i in items]


def _fields_changed(old: object, new: object) -> tuple[str, ...]:
    """Fields whose value differs, edges excluded (they are reported as edges)."""
    a = old if isinstance(old, Mapping) else {}
    b = new if isinstance(new, Mapping) else {}
    changed = []
    for key in [*a, *(k for k in b if k not in a)]:
        if key in ("next", "on_event", "on_timeout", "else"):
            continue
        va, vb = a.get(key), b.get(key)
        if key in ("cases", "paths") and isinstance(va, list) and isinstance(vb, list):
            va, vb = _without_next(va), _without_next(vb)
        if va != vb:
            changed.append(str(key))
    return tuple(changed)


def diff_journeys(old: Mapping[str, Any], new: Mapping[str, Any]) -> JourneyDiff:
    """What publishing ``new`` over ``old`` changes, in the order the nodes are written."""
    old_nodes, new_nodes = _nodes(old), _nodes(new)
    changed = {}
    for node_id in new_nodes:
        if node_id in old_nodes:
            fields = _fields_changed(old_nodes[node_id], new_nodes[node_id])
            if fields:
                changed[str(node_id)] = fields
    old_edges, new_edges = _edges(old_nodes), _edges(new_nodes)
    order = {n: i for i, n in enumerate([*old_nodes, *new_nodes])}

    def sort(edges: set[Edge]) -> tuple[Edge, ...]:
        return tuple(sorted(edges, key=lambda e: (order.get(e[0], 0), e[1])))

    skip = {"nodes", LAYOUT_KEY}
    settings = tuple(k for k in dict.fromkeys([*old, *new]) if k not in skip and old.get(k) != new.get(k))
    return JourneyDiff(
        nodes_added=tuple(str(n) for n in new_nodes if n not in old_nodes),
        nodes_removed=tuple(str(n) for n in old_nodes if n not in new_nodes),
        nodes_changed=changed, edges_added=sort(new_edges - old_edges), edges_removed=sort(old_edges - new_edges),
        settings_changed=tuple(str(k) for k in settings))
