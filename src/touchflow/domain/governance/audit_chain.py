"""The audit log's hash chain (P5): a row's canonical form, its hash, and a streaming check of the chain.

Every row carries ``prev_hash`` (the hash of the row before it; ``GENESIS`` for the first) and
``hash = sha256(prev_hash ‖ "\\n" ‖ canonical(row))``. ``canonical`` is orjson with sorted keys over every
column but the two hashes; ``at`` is ISO 8601 UTC with microseconds (what both SQLite and PostgreSQL keep), and
integral floats are written as integers (PostgreSQL's JSONB gives ``1e16`` back as ``10000000000000000``).
An edited, deleted, inserted or reordered row breaks a link; only a rewrite of the whole tail from the edit on
keeps the chain consistent, which the anchors written outside the database catch (``audit anchor``).

Pure: no I/O. The store feeds ``ChainVerifier`` rows in id order, in batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson

__all__ = ["GENESIS", "PURGE_ACTION", "Anchor", "AuditRow", "Break", "ChainVerifier", "Checkpoint",
           "canonical_row", "normalise_json", "parse_anchor", "row_hash", "state_digest", "utc_text"]

GENESIS = "0" * 64
PURGE_ACTION = "audit.purge"  # its details: through_id, through_hash (where the kept chain starts)
_REORDER_WINDOW = 1000  # ids either side tried when a row's hash fits another position


def utc_text(at: datetime) -> str:
    """``2026-03-02T01:00:00.000000Z``: fixed width, microseconds always written."""
    if at.tzinfo is None:
        raise ValueError("naive datetime in an audit row")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(value: Any) -> Any:
    """The JSON value as any database hands it back: integral floats as ints, keys as text, tuples as lists."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def normalise_json(value: Any) -> Any:
    """What a JSON column stores and returns for ``value`` (datetimes as ISO text, NaN as null)."""
    return _plain(orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)))


def state_digest(state: Any) -> str:
    """sha256 of the canonical JSON of a before/after state (the state itself is not kept in the row)."""
    return hashlib.sha256(orjson.dumps(normalise_json(state), option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: Mapping[str, Any]
    before_digest: str | None = None
    after_digest: str | None = None
    request_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    prev_hash: str = GENESIS
    hash: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": utc_text(self.at), "actor": self.actor, "action": self.action,
                "subject": self.subject, "details": _plain(self.details), "before_digest": self.before_digest,
                "after_digest": self.after_digest, "request_id": self.request_id, "ip": self.ip,
                "user_agent": self.user_agent, "prev_hash": self.prev_hash, "hash": self.hash}


def canonical_row(row: AuditRow, *, row_id: int | None = None) -> bytes:
    doc = row.as_json()
    del doc["prev_hash"], doc["hash"]
    if row_id is not None:
        doc["id"] = row_id
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def row_hash(prev_hash: str, row: AuditRow, *, row_id: int | None = None) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical_row(row, row_id=row_id)).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """Where a purged chain starts: the last purged row's id and hash (from the newest purge row)."""

    through_id: int
    through_hash: str


@dataclass(frozen=True)
class Anchor:
    """One line of the anchor file: on ``day`` the chain ended at row ``last_id`` with ``last_hash``."""

    day: date
    last_id: int
    last_hash: str

    def line(self) -> str:
        return orjson.dumps({"date": self.day.isoformat(), "last_id": self.last_id,
                             "last_hash": self.last_hash}).decode()


def parse_anchor(line: str, where: str) -> Anchor:
    try:
        doc = orjson.loads(line)
        return Anchor(date.fromisoformat(doc["date"]), int(doc["last_id"]), str(doc["last_hash"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: not an anchor line ({exc})") from None


@dataclass(frozen=True)
class Break:
    """The first broken link: ``kind`` is edited, deleted, reordered, relinked, truncated or rewritten."""

    row_id: int
    kind: str
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"row_id": self.row_id, "kind": self.kind, "reason": self.reason}


@dataclass
class ChainVerifier:
    """Feed rows in id order (``feed``), then ``finish``; stops at the first break."""

    start: Checkpoint | None = None
    anchors: Iterable[Anchor] = ()
    checked: int = 0
    last_id: int = 0
    last_hash: str = GENESIS
    broken: Break | None = None
    _anchors: dict[int, list[Anchor]] = field(default_factory=dict, init=False)
    _first: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        for anchor in self.anchors:
            self._anchors.setdefault(anchor.last_id, []).append(anchor)
        if self.start is not None:
            self.last_id, self.last_hash = self.start.through_id, self.start.through_hash
            for anchor in self._anchors.pop(self.start.through_id, []):  # the purged row's anchor: the checkpoint
                if anchor.last_hash != self.start.through_hash:
                    self.broken = Break(anchor.last_id, "rewritten", f"anchor of {anchor.day} names hash "
                                        f"{anchor.last_hash[:12]}…, the purge checkpoint another")
            for row_id in [i for i in self._anchors if i < self.start.through_id]:
                del self._anchors[row_id]  # purged: nothing left to compare them with

    def feed(self, rows: Iterable[AuditRow]) -> bool:
        """Check ``rows``; False once broken (further rows are ignored)."""
        for row in rows:
            if self.broken is not None:
                return False
            self.broken = self._check(row)
            if self.broken is None:
                self.checked += 1
                self.last_id, self.last_hash = row.id, row.hash
        return self.broken is None

    def _check(self, row: AuditRow) -> Break | None:
        first, self._first = self._first, False
        if first and self.start is None and row.id != 1 and row.prev_hash != GENESIS:
            return Break(row.id, "deleted", f"the chain starts at row {row.id} with no purge checkpoint: "
                                            "earlier rows were deleted")
        expected_prev = GENESIS if first and self.start is None else self.last_hash
        gap = row.id != self.last_id + 1 and not (first and self.start is None)
        computed = row_hash(row.prev_hash, row)
        if computed != row.hash:
            moved = self._written_as(row)
            if moved is not None:
                return Break(row.id, "reordered", f"row {row.id} holds the row written as id {moved}")
            return Break(row.id, "edited", f"row {row.id} no longer matches its hash (a column was changed)")
        if row.prev_hash != expected_prev:
            if gap:
                return Break(row.id, "deleted", f"rows {self.last_id + 1}–{row.id - 1} are missing "
                                                f"(row {row.id} follows another row than row {self.last_id})")
            return Break(row.id, "relinked", f"row {row.id} does not follow row {self.last_id}: rows were "
                                             "inserted, replaced or re-hashed")
        for anchor in self._anchors.pop(row.id, []):
            if anchor.last_hash != row.hash:
                return Break(row.id, "rewritten", f"anchor of {anchor.day} names another hash for row {row.id}: "
                                                  "the chain was rewritten after it")
        return None

    def _written_as(self, row: AuditRow) -> int | None:
        for delta in range(1, _REORDER_WINDOW + 1):
            for candidate in (row.id - delta, row.id + delta):
                if candidate > 0 and row_hash(row.prev_hash, row, row_id=candidate) == row.hash:
                    return candidate
        return None

    def finish(self) -> Break | None:
        """The first break, also anchors past the end of the chain (its tail was cut off)."""
        if self.broken is None and self._anchors:
            anchor = min((a for group in self._anchors.values() for a in group), key=lambda a: a.last_id)
            self.broken = Break(anchor.last_id, "truncated", f"anchor of {anchor.day} names row {anchor.last_id}, "
                                f"but the chain ends at row {self.last_id}: its tail was deleted")
        return self.broken
