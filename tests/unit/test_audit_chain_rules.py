"""The audit chain's pure rules: a fixed canonical form, JSON as databases return it, the verifier on rows in
memory, and which incoming request ids are kept."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from touchflow.domain.governance.audit_chain import (
    GENESIS,
    Anchor,
    AuditRow,
    ChainVerifier,
    Checkpoint,
    canonical_row,
    parse_anchor,
    row_hash,
    state_digest,
)
from touchflow.security.request_context import sane_request_id

AT = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=8)))


def chain(n: int, start: Checkpoint | None = None) -> list[AuditRow]:
    rows, prev = [], start.through_hash if start else GENESIS
    first = start.through_id + 1 if start else 1
    for i in range(first, first + n):
        row = AuditRow(i, AT + timedelta(seconds=i), "os:a", "x.y", f"s{i}", {"i": i}, prev_hash=prev)
        prev = row_hash(prev, row)
        rows.append(AuditRow(**{**row.__dict__, "hash": prev}))
    return rows


def test_the_canonical_form_is_fixed() -> None:
    row = AuditRow(7, AT, "os:a", "contact.patch", "c1", {"b": 2.0, "a": [1.5, "中"]}, request_id="r1")
    assert canonical_row(row) == (
        '{"action":"contact.patch","actor":"os:a","after_digest":null,"at":"2026-03-02T01:00:00.000000Z",'
        '"before_digest":null,"details":{"a":[1.5,"中"],"b":2},"id":7,"ip":null,"request_id":"r1",'
        '"subject":"c1","user_agent":null}').encode()
    assert row_hash(GENESIS, row) == hashlib.sha256(GENESIS.encode() + b"\n" + canonical_row(row)).hexdigest()


def test_json_is_hashed_as_databases_return_it() -> None:
    assert state_digest({"n": 1e16, "m": 2.0}) == state_digest({"m": 2, "n": 10**16})
    assert state_digest({"a": (1, 2)}) == state_digest({"a": [1, 2]})
    assert state_digest(None) != state_digest({})
    with pytest.raises(ValueError, match="naive"):
        canonical_row(AuditRow(1, datetime(2026, 1, 1), "a", "b", "c", {}))  # noqa: DTZ001


def test_the_verifier_walks_batches_and_stops_at_the_first_break() -> None:
    rows = chain(6)
    verifier = ChainVerifier(anchors=[Anchor(AT.date(), 4, rows[3].hash)])
    assert verifier.feed(rows[:3]) and verifier.feed(rows[3:]) and verifier.finish() is None
    assert verifier.checked == 6 and verifier.last_hash == rows[-1].hash
    broken = [*rows[:2], AuditRow(**{**rows[2].__dict__, "subject": "other"}), *rows[3:]]
    verifier = ChainVerifier()
    assert not verifier.feed(broken)
    assert verifier.finish() is not None and (verifier.broken.row_id, verifier.broken.kind) == (3, "edited")


def test_a_purged_chain_verifies_from_its_checkpoint() -> None:
    start = Checkpoint(10, "a" * 64)
    rows = chain(3, start)
    assert ChainVerifier(start).feed(rows)
    broken = ChainVerifier(Checkpoint(10, "b" * 64))
    broken.feed(rows)
    assert broken.finish() is not None and broken.finish().kind == "relinked"  # type: ignore[union-attr]
    assert ChainVerifier(start, [Anchor(AT.date(), 10, "c" * 64)]).finish().kind == "rewritten"  # type: ignore[union-attr]


def test_anchor_lines_round_trip_and_garbage_is_named() -> None:
    anchor = Anchor(datetime(2026, 3, 2, tzinfo=UTC).date(), 5, "d" * 64)
    assert parse_anchor(anchor.line(), "f:1") == anchor
    with pytest.raises(ValueError, match="f:2"):
        parse_anchor('{"date": "2026-13-01", "last_id": 1, "last_hash": ""}', "f:2")


@pytest.mark.parametrize(("given", "kept"), [
    ("abc-123_X.y", True), ("x" * 64, True), ("x" * 65, False), ("", False), ("a b", False), ("a/b", False),
    ("é", False), ("a\nb", False), (None, False),
])
def test_only_sane_request_ids_are_kept(given: str | None, kept: bool) -> None:
    assert sane_request_id(given) == (given if kept else None)
