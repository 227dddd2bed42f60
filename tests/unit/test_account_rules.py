"""The pure account rules: password policy, throttling with back-off, session timeouts, TOTP steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from touchflow.domain.errors import FieldError
from touchflow.domain.governance.accounts import (
    ACCOUNT_THROTTLE,
    check_password,
    locked_until,
    normalise_email,
    password_problems,
    session_end,
    totp_step,
    totp_window,
    unused_step,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
M = timedelta(minutes=1)


@pytest.mark.parametrize(("password", "reason"), [
    ("Short1!", "at least 12"),
    ("abcdefghijklmnop", "not all of one kind"),
    ("1234567890123", "not all of one kind"),
    ("aaaaaaaaaaaa1", "one or two characters"),
    ("zhang.wei@example.cn1", "email"),
    ("Xzhang.wei-2026", "email"),
    ("Zhang Wei 2026!!", "name"),
])
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    problems = password_problems(password, email="zhang.wei@example.cn", name="Zhang Wei")
    assert any(reason in p for p in problems), problems


def test_a_good_password_passes_and_every_reason_is_named_at_once() -> None:
    assert password_problems("correct horse 42 battery", email="li@example.cn", name="Li Na") == []
    assert password_problems("长城很长很长很长1234", email="li@example.cn", name="Li Na") == []
    with pytest.raises(FieldError) as caught:
        check_password("abc", email="li@example.cn")
    assert caught.value.field == "password" and "12" in caught.value.reason and "one kind" in caught.value.reason


def test_emails_are_normalised_and_checked() -> None:
    assert normalise_email("  Zhang.Wei@Example.CN ") == "zhang.wei@example.cn"
    with pytest.raises(FieldError, match="email"):
        normalise_email("not-an-address")


def test_five_failures_in_fifteen_minutes_lock_for_fifteen_then_thirty_then_cap() -> None:
    four = [T0 + i * M for i in range(4)]
    assert locked_until(four, T0 + 5 * M, ACCOUNT_THROTTLE) is None
    five = [*four, T0 + 4 * M]
    assert locked_until(five, T0 + 5 * M, ACCOUNT_THROTTLE) == T0 + 19 * M
    assert locked_until(five, T0 + 19 * M, ACCOUNT_THROTTLE) is None  # the lock ended
    spread = [T0 + i * 4 * M for i in range(5)]  # five failures over 16 minutes: never five in one window
    assert locked_until(spread, T0 + 17 * M, ACCOUNT_THROTTLE) is None
    # back-off: five more after the first lock → 30 minutes; the next five → 60 minutes
    again = [*five, *(T0 + 20 * M + i * M for i in range(5))]
    assert locked_until(again, T0 + 25 * M, ACCOUNT_THROTTLE) == T0 + 24 * M + 30 * M
    third = [*again, *(T0 + 60 * M + i * M for i in range(5))]
    assert locked_until(third, T0 + 65 * M, ACCOUNT_THROTTLE) == T0 + 64 * M + 60 * M
    # failures during a lock are not counted (they were refused unseen)
    during = [*five, *(T0 + 6 * M + i * M for i in range(5))]
    assert locked_until(during, T0 + 12 * M, ACCOUNT_THROTTLE) == T0 + 19 * M


def test_each_lock_doubles_up_to_a_day() -> None:
    failures: list[datetime] = []
    at = T0
    durations: list[timedelta] = []
    for _ in range(9):  # five failures as soon as each lock ends
        failures += [at + i * M for i in range(5)]
        until = locked_until(failures, at + 4 * M, ACCOUNT_THROTTLE)
        assert until is not None
        durations.append(until - (at + 4 * M))
        at = until
    assert durations == [timedelta(minutes=15 * 2 ** k) for k in range(7)] + [timedelta(hours=24)] * 2


def test_session_timeouts_idle_absolute_and_pending() -> None:
    assert session_end("active", T0, T0 + 29 * M, T0 + 58 * M) is None
    assert session_end("active", T0, T0, T0 + 30 * M) == "idle"
    assert session_end("active", T0, T0 + 12 * 60 * M - M, T0 + 12 * 60 * M) == "absolute"
    assert session_end("password_ok", T0, T0, T0 + 9 * M) is None
    assert session_end("needs_enrolment", T0, T0, T0 + 10 * M) == "pending"


def test_totp_steps_and_replay_rule() -> None:
    step = totp_step(T0)
    assert step == int(T0.timestamp()) // 30
    assert totp_window(T0) == (step, step - 1, step + 1)
    assert unused_step(step, None) and unused_step(step, step - 1)
    assert not unused_step(step, step)  # the same code again
    assert not unused_step(step - 1, step)  # an older code still inside the window
