"""Connector schedules (five-field cron in the workspace zone) and run statistics: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from touchflow.domain.connectors import (
    Connector,
    ConnectorRun,
    consecutive_failures,
    next_run,
    parse_schedule,
    success_rate,
    validate_connector,
)
from touchflow.domain.errors import FieldError

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


@pytest.mark.parametrize(("cron", "expected"), [
    ("*/15 * * * *", "2026-03-02T01:15:00+00:00"),
    ("0 9 * * *", "2026-03-03T01:00:00+00:00"),  # 09:00 today is not strictly after
    ("30 8-18/2 * * 1-5", "2026-03-02T02:30:00+00:00"),  # 10:30 Shanghai
    ("0 0 1 * *", "2026-03-31T16:00:00+00:00"),  # 1 April 00:00 Shanghai
    ("0 9 * * 0", "2026-03-08T01:00:00+00:00"),  # Sunday
    ("0 9 * * 7", "2026-03-08T01:00:00+00:00"),  # 7 is Sunday too
    ("0 9 13 * 5", "2026-03-06T01:00:00+00:00"),  # day 13 OR a Friday: Friday 6 March comes first
    ("0 0 29 2 *", "2028-02-28T16:00:00+00:00"),  # the next 29 February
])
def test_next_run_in_the_workspace_zone(cron: str, expected: str) -> None:
    parsed = parse_schedule(cron)
    assert parsed is not None
    found = next_run(parsed, AT, SHANGHAI)
    assert found is not None and found.isoformat() == expected


def test_never_and_special_schedules() -> None:
    parsed = parse_schedule("0 0 31 2 *")
    assert parsed is not None and next_run(parsed, AT, SHANGHAI) is None
    assert parse_schedule("realtime") is None and parse_schedule(" manual ") is None


@pytest.mark.parametrize("bad", ["* * * *", "60 * * * *", "* 24 * * *", "*/0 * * * *", "a * * * *", "5-1 * * * *",
                                 "hourly"])
def test_bad_schedules_name_the_field(bad: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_schedule(bad)
    assert caught.value.field == "schedule"


def _run(status: str) -> ConnectorRun:
    return ConnectorRun("r", "c", AT, status=status)  # type: ignore[arg-type]


def test_success_rate_and_failure_streak_from_runs() -> None:
    runs = [_run(s) for s in ("running", "failed", "interrupted", "succeeded", "failed", "succeeded")]  # newest first
    assert consecutive_failures(runs) == 2
    assert success_rate(runs) == pytest.approx(2 / 5)
    assert success_rate([]) is None and consecutive_failures([_run("succeeded")]) == 0


def test_validation_names_the_field() -> None:
    kinds = {"sql": (("url",), ("password",))}
    good = Connector("crm-db", "sql", {"url": "sqlite://"}, cursor="id", schedule="0 * * * *")
    validate_connector(good, kinds=kinds)
    for bad, field in ((Connector("CRM", "sql", {"url": "x"}), "name"),
                       (Connector("c", "sql", {}), "settings.url"),
                       (Connector("c", "sql", {"url": "x", "api_token": "t"}), "settings.api_token"),
                       (Connector("c", "sql", {"url": "x"}, secret_names=("nope",)), "secret"),
                       (Connector("c", "sql", {"url": "x"}, record_kind="events"), "event_type"),
                       (Connector("c", "sql", {"url": "x"}, event_type="order_paid"), "event_type"),
                       (Connector("c", "sql", {"url": "x\x00"}), "settings.url"),
                       (Connector("c", "sql", {"url": "x"}, cursor=" "), "cursor")):
        with pytest.raises(FieldError) as caught:
            validate_connector(bad, kinds=kinds)
        assert caught.value.field == field, bad
