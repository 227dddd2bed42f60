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
    """Union-find over records (linked through a shared identity or stored contact); components in
    first-record order."""
    parent = list(range(len(identity_sets)))

    def find(node: int) -> int:
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    # The first record holding each identity (or naming each stored contact): later ones join its set.
    first: dict[object, int] = {}
    for index, identities in enumerate(identity_sets):
        for identity in identities:
            contact_id = existing.get(identity)
            key: object = identity if contact_id is None else ("contact", contact_id)
            owner = first.setdefault(key, index)
            if owner != index:
                ra, rb = find(owner), find(index)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)

    by_root: dict[int, Component] = {}
    for index, identities in enumerate(identity_sets):
        component = by_root.get(root := find(index))
        if component is None:
            component = by_root[root] = Component()
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
