"""Contacts as plain data, and the rules that fold observations and merges into them (D1-D3, D5).

Field-conflict policy (ADR 0003): for each field the value with the highest
``(source priority, observed time, value)`` wins; empty values never overwrite. The value itself
is the last tie-break so the outcome does not depend on the order records arrive in.

Rows of one file without their own time (ADR 0013) carry the file's digest and their row number: between
two rows of the same file the later row wins, whatever the time of ingest, so importing the file again
(a later ingest time) re-offers its rows and changes nothing, whatever its internal conflicts. Their consent
statements too: the row is remembered per channel in the lineage (``consent.<channel>``, ADR 0060).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from touchflow.domain.errors import FieldError
from touchflow.domain.identities import Identity

__all__ = [
    "MANUAL_PRIORITY",
    "PERSONAL_FIELDS",
    "STANDARD_FIELDS",
    "Consent",
    "ContactRecord",
    "ContactState",
    "FieldConflict",
    "Scalar",
    "Stamp",
    "apply_record",
    "consent_key",
    "is_empty",
    "merge_into",
    "pick_winner",
]

Scalar = str | int | float | bool

# Standard attributes, stored as columns. Custom attributes use the key ``custom.<name>``.
STANDARD_FIELDS: tuple[str, ...] = (
    "name", "gender", "age", "city", "province", "industry", "company", "job_title",
    "timezone", "locale", "lifecycle_stage",
)
# Standard attributes that are personal data: encrypted at rest when encryption is enabled (ADR 0026), so
# never compared in SQL (a condition over them is finished in Python on decrypted values). Identifiers
# (email, phone, openid, CRM id …) are identities, encrypted with a blind index for matching.
PERSONAL_FIELDS: frozenset[str] = frozenset({"name"})
CONSENT_CHANNELS: tuple[str, ...] = ("email", "sms", "wecom", "wechat", "onsite", "phone")
MANUAL_PRIORITY = 1000  # a person's edit (D5) outranks every automated source


def is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@dataclass(frozen=True)
class Stamp:
    """Lineage of one field: which source set it, how much we trust that source, and when."""

    source: str
    priority: int
    at: datetime
    file: str | None = None  # digest of the imported file, for rows without their own time
    row: int = 0  # that file's row number

    def rank(self, value: Scalar) -> tuple[int, datetime, str]:
        return (self.priority, self.at, f"{type(value).__name__}:{value}")

    def same_file(self, other: Stamp) -> bool:
        return (self.file is not None and self.file == other.file and self.source == other.source
                and self.priority == other.priority)

    def outranks(self, value: Scalar, old: Stamp, current: Scalar) -> bool:
        """True when ``value`` stamped so replaces ``current``: within one file its order decides."""
        if self.same_file(old):
            return self.row > old.row
        return self.rank(value) > old.rank(current)


@dataclass(frozen=True)
class Consent:
    channel: str
    status: Literal["granted", "denied"]
    source: str
    at: datetime

    def supersedes(self, other: Consent) -> bool:
        """The later statement wins; at the same instant a denial wins (the safe side)."""
        if self.at != other.at:
            return self.at > other.at
        return self.status == "denied" and other.status == "granted"


@dataclass
class ContactRecord:
    """One observation of a person by one source (a CSV row, an API upsert, an event's identities)."""

    identities: tuple[Identity, ...]
    source: str
    priority: int
    observed_at: datetime
    values: dict[str, Scalar] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    consents: tuple[Consent, ...] = ()
    warnings: tuple[FieldError, ...] = ()
    file: str | None = None  # a file row without its own time: the file's digest and the row (Stamp)
    row: int = 0


@dataclass
class ContactState:
    id: str
    created_at: datetime
    values: dict[str, Scalar] = field(default_factory=dict)
    lineage: dict[str, Stamp] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # tag -> who set it (source, "manual", "rule:<id>")
    consents: dict[str, Consent] = field(default_factory=dict)
    merged_into: str | None = None

    def offer(self, name: str, value: Scalar, stamp: Stamp) -> bool:
        """Apply the field-conflict policy for one value; True when the stored value changed."""
        if is_empty(value):
            return False
        current = self.values.get(name)
        if current is not None and current == value:
            return False
        old = self.lineage.get(name)
        if current is not None and old is not None and not stamp.outranks(value, old, current):
            return False
        self.values[name] = value
        self.lineage[name] = stamp
        return True

    def offer_consent(self, consent: Consent) -> bool:
        current = self.consents.get(consent.channel)
        if current is not None and (current == consent or not consent.supersedes(current)):
            return False
        self.consents[consent.channel] = consent
        return True


def apply_record(state: ContactState, record: ContactRecord) -> bool:
    """Fold one observation into a contact; True when anything changed."""
    stamp = Stamp(record.source, record.priority, record.observed_at, record.file, record.row)
    changed = False
    if not state.values:  # a new contact's first record (most of an import): every non-empty value is taken
        values, lineage = state.values, state.lineage
        for name, value in record.values.items():
            if not is_empty(value):
                values[name] = value
                lineage[name] = stamp
                changed = True
    else:
        for name, value in record.values.items():
            changed |= state.offer(name, value, stamp)
    for tag in record.tags:
        if tag not in state.tags:
            state.tags[tag] = record.source
            changed = True
    for consent in record.consents:
        changed |= _offer_stated_consent(state, consent, stamp)
    return changed


def consent_key(channel: str) -> str:
    """The lineage entry of the last file row that stated this channel's consent (ADR 0013, 0060)."""
    return f"consent.{channel}"


def _offer_stated_consent(state: ContactState, consent: Consent, stamp: Stamp) -> bool:
    """A file row without its own time is stamped with the time of ingest, so importing the file again would
    make each of its statements newer than everything since: an unsubscribe made after the first import
    would be overturned. The file row is remembered in the lineage instead, and a row of the same file no
    later than the one remembered is a re-offer that changes nothing (as for attribute values)."""
    if stamp.file is None:
        return state.offer_consent(consent)
    key = consent_key(consent.channel)
    seen = state.lineage.get(key)
    if seen is not None and stamp.same_file(seen) and stamp.row <= seen.row:
        return False
    state.lineage[key] = stamp  # remembered whether or not the statement is in force: it was offered
    state.offer_consent(consent)
    return True


@dataclass(frozen=True)
class FieldConflict:
    """A field on which the merged contacts disagreed, and what the policy kept."""

    field: str
    kept: Scalar
    kept_source: str
    dropped: Scalar
    dropped_source: str


def merge_into(winner: ContactState, loser: ContactState) -> list[FieldConflict]:
    """Fold ``loser`` into ``winner`` with the same policy as any observation; list the conflicts."""
    conflicts: list[FieldConflict] = []
    for name, value in loser.values.items():
        stamp = loser.lineage.get(name) or Stamp("unknown", 0, loser.created_at)
        before = winner.values.get(name)
        before_stamp = winner.lineage.get(name)
        took = winner.offer(name, value, stamp)
        if before is not None and before != value:
            if took:
                conflicts.append(FieldConflict(name, value, stamp.source, before,
                                               before_stamp.source if before_stamp else "unknown"))
            else:
                kept_source = before_stamp.source if before_stamp else "unknown"
                conflicts.append(FieldConflict(name, before, kept_source, value, stamp.source))
    for tag, by in loser.tags.items():
        winner.tags.setdefault(tag, by)
    for consent in loser.consents.values():
        winner.offer_consent(consent)
        key = consent_key(consent.channel)
        offered = loser.lineage.get(key)
        if offered is not None and key not in winner.lineage:  # the file rows it saw stay seen
            winner.lineage[key] = offered
    loser.merged_into = winner.id
    return conflicts


def pick_winner(states: Iterable[ContactState]) -> ContactState:
    """The contact that survives a merge: the oldest, then the smallest id (deterministic)."""
    return min(states, key=lambda s: (s.created_at, s.id))
