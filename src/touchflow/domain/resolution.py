"""Identity resolution as a pure function: which records and stored contacts are one person (D3).

Records are linked when they share a normalised identifier, directly or through a chain; a
component that touches two stored contacts means those contacts are one person and get merged.
Deterministic matching only; fuzzy matches are suggestions (see ``duplicates``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from touchflow.domain.identities import Identity

__all__ = ["Component", "group_records"]


@dataclass
class Component:
    """Records that describe one person, and the stored contacts they touch."""

    records: list[int] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    identities: set[Identity] = field(default_factory=set)
    # identity -> the stored contact it pointed at (explains why contacts were merged)
    links: dict[Identity, str] = field(default_factory=dict)


def group_records(
    identity_sets: Sequence[Sequence[Identity]], existing: Mapping[Identity, str]
) -> list[Component]:
    """Union-find over records, identities and stored contacts; components in first-record order."""
    parent: dict[object, object] = {}

    def find(node: object) -> object:
        root = node
        while (up := parent.get(root, root)) != root:
            root = up
        while (up := parent.get(node, node)) != root:  # path compression
            parent[node] = root
            node = up
        return root

    def union(a: object, b: object) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra

    for index, identities in enumerate(identity_sets):
        node = ("record", index)
        parent.setdefault(node, node)
        for identity in identities:
            contact_id = existing.get(identity)
            union(node, ("contact", contact_id) if contact_id is not None else identity)

    by_root: dict[object, Component] = {}
    for index, identities in enumerate(identity_sets):
        component = by_root.setdefault(find(("record", index)), Component())
        component.records.append(index)
        for identity in identities:
            component.identities.add(identity)
            contact_id = existing.get(identity)
            if contact_id is not None:
                component.links[identity] = contact_id
                if contact_id not in component.existing:
                    component.existing.append(contact_id)
    for component in by_root.values():
        component.existing.sort()
    return list(by_root.values())
