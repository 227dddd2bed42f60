"""Pure rules of write-back (settings, keys, back-off) and inbound webhook signatures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from touchflow.domain.connectors.webhook_signatures import SignatureRejected, sign_webhook, verify_webhook
from touchflow.domain.connectors.writeback import Change, backoff, batch_key, change_key, parse_writeback
from touchflow.domain.errors import FieldError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_parse_writeback_defaults_and_absence() -> None:
    assert parse_writeback("c", {}) is None
    config = parse_writeback("c", {"writeback": {"preset": "webhook"}})
    assert config is not None and config.fields == {"score", "mql", "sql", "stage", "tasks", "consent"}
    with pytest.raises(FieldError, match=r"settings\.writeback\.fields"):
        parse_writeback("c", {"writeback": {"preset": "hubspot", "fields": []}})


def test_change_keys_are_stable_and_distinct() -> None:
    one = Change("c1", "stage", {"stage": "intent"}, NOW, "ev-1")
    assert change_key("crm", one) == change_key("crm", Change("c1", "stage", {"stage": "x"}, NOW, "ev-1"))
    assert change_key("crm", one) != change_key("other", one)
    assert change_key("crm", one) != change_key("crm", Change("c1", "stage", None, NOW, "ev-2"))
    assert batch_key(["b", "a"]) == batch_key(["a", "b"]) != batch_key(["a"])


def test_backoff_doubles_caps_and_honours_retry_after() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert backoff(30) == timedelta(hours=1)
    assert backoff(1, retry_after=600) == timedelta(seconds=600)


def test_signature_round_trip_and_every_rejection() -> None:
    body = '{"id": 1, "名": "茶"}'.encode()
    stamp = int(NOW.timestamp())
    good = sign_webhook("s", stamp, body)
    verify_webhook("s", str(stamp), good, body, NOW)
    verify_webhook("s", str(stamp), f"sha256=old, {good}", body, NOW)  # during a rotation
    cases = [("", str(stamp), good, body), ("s", None, good, body), ("s", "abc", good, body),
             ("s", str(stamp), None, body), ("s", str(stamp), good, body + b" "),
             ("s", str(stamp - 301), sign_webhook("s", stamp - 301, body), body),
             ("s", str(stamp + 1), good, body), ("t", str(stamp), good, body)]
    for secret, ts, signature, payload in cases:
        with pytest.raises(SignatureRejected):
            verify_webhook(secret, ts, signature, payload, NOW)
