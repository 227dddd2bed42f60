"""Undoing a merge: what a merge moved, and how the survivor's profile splits back.

A merge (by a shared identifier, or a person's confirmation) can be wrong: a family's shared phone, a
wrongly confirmed suggestion, a forged identifier. At merge time the store keeps a ``MergeUndo``: the
loser's identities, events, tags and consents, the contacts re-pointed through it, the static segments its
membership passed on, and the survivor as it was. Unmerging gives each back to the person it came from.

Attribute values split **by lineage**: a survivor's field whose value and stamp are exactly the loser's
came from the loser and goes back to what the survivor had before the merge (or away); a field the survivor
set itself, before or after the merge, stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from touchflow.domain.contacts import Consent, ContactState, Scalar, Stamp
from touchflow.domain.identities import Identity

__all__ = ["EVENTS_KEPT", "MergeUndo", "split_survivor"]

EVENTS_KEPT = 100_000  # event ids listed per merge; beyond, events go back by the identifier they carry


@dataclass(frozen=True)
class MergeUndo:
    identities: tuple[Identity, ...]
    events: tuple[str, ...]
    events_complete: bool  # False: the loser had more than EVENTS_KEPT events
    tags: Mapping[str, str]
    consents: tuple[Consent, ...]
    repointed: tuple[str, ...]  # contacts merged into the loser earlier, re-pointed to the survivor
    static_segments: tuple[str, ...]  # static segments whose membership passed to the survivor
    survivor_before: ContactState = field(repr=False)

    def document(self) -> dict[str, Any]:
        before = self.survivor_before
        return {
            "identities": [[i.kind, i.value] for i in self.identities], "events": list(self.events),
            "events_complete": self.events_complete, "tags": dict(self.tags),
            "consents": [_consent_doc(c) for c in self.consents], "repointed": list(self.repointed),
            "static_segments": list(self.static_segments),
            "survivor_before": {
                "values": dict(before.values),
                "lineage": {k: {"source": s.source, "priority": s.priority, "at": s.at.isoformat(),
                                "file": s.file, "row": s.row} for k, s in before.lineage.items()},
                "tags": dict(before.tags), "consents": [_consent_doc(c) for c in before.consents.values()]},
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], survivor_id: str, created_at: datetime) -> MergeUndo:
        before = doc.get("survivor_before") or {}
        state = ContactState(
            id=survivor_id, created_at=created_at, values=dict(before.get("values") or {}),
            lineage={k: Stamp(v["source"], int(v["priority"]), datetime.fromisoformat(v["at"]), v.get("file"),
                              int(v.get("row") or 0)) for k, v in (before.get("lineage") or {}).items()},
            tags=dict(before.get("tags") or {}),
            consents={c.channel: c for c in (_consent(d) for d in before.get("consents") or [])})
        return cls(tuple(Identity(k, v) for k, v in doc.get("identities") or []), tuple(doc.get("events") or []),
                   bool(doc.get("events_complete", True)), dict(doc.get("tags") or {}),
                   tuple(_consent(d) for d in doc.get("consents") or []), tuple(doc.get("repointed") or []),
                   tuple(doc.get("static_segments") or []), state)


def _consent_doc(c: Consent) -> dict[str, Any]:
    return {"channel": c.channel, "status": c.status, "source": c.source, "at": c.at.isoformat()}


def _consent(d: Mapping[str, Any]) -> Consent:
    return Consent(d["channel"], d["status"], d["source"], datetime.fromisoformat(d["at"]))


def split_survivor(survivor: ContactState, loser: ContactState, undo: MergeUndo) -> tuple[ContactState, list[str]]:
    """The survivor without what came from the loser; and the names of the fields, tags and consents that
    went back. ``loser`` is the loser as it was at the merge (its row, with the tags and consents kept)."""
    before = undo.survivor_before
    values: dict[str, Scalar] = dict(survivor.values)
    lineage: dict[str, Stamp] = dict(survivor.lineage)
    returned: list[str] = []
    for name in list(values):
        stamp = lineage.get(name)
        if name in loser.values and values[name] == loser.values[name] and stamp == loser.lineage.get(name):
            returned.append(name)
            if name in before.values:
                values[name] = before.values[name]
                if name in before.lineage:
                    lineage[name] = before.lineage[name]
            else:
                values.pop(name)
                lineage.pop(name, None)
    tags = dict(survivor.tags)
    for tag, by in undo.tags.items():
        if tag in tags and tag not in before.tags and tags[tag] == by:
            tags.pop(tag)
            returned.append(f"tag:{tag}")
    consents = dict(survivor.consents)
    for consent in undo.consents:
        if consents.get(consent.channel) == consent:
            returned.append(f"consent:{consent.channel}")
            if consent.channel in before.consents:
                consents[consent.channel] = before.consents[consent.channel]
            else:
                consents.pop(consent.channel)
    split = ContactState(survivor.id, survivor.created_at, values, lineage, tags, consents, survivor.merged_into)
    return split, returned
