"""Alerts in the sandbox (A4): the worker's own tick, on virtual time, pauses a journey whose open rate drops.

Day 1 is 2026-03-02 in Shanghai (the workspace's zone). Readers get the news at 09:00 each day; 40 % open
template news_a, 20 % news_b; on day 5 a new version switches to news_b (a 50 % drop).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from touchflow.bootstrap import bootstrap, open_sandbox
from touchflow.config import Settings
from touchflow.domain.journeys.scenarios import parse_scenario
from touchflow.domain.measurement.alert_ports import AlertRecord
from touchflow.engine import simulator
from touchflow.services.alerts import alert_history
from touchflow.store.tables import audit_log

JOURNEY = """
key: daily_news
name: 每日资讯
trigger: {event: news_due}
entry: {max_entries: 100, cooldown: 1h}
nodes:
  mail: {kind: send, channel: email, template: news_a, purpose: transactional, next: done}
  done: {kind: exit}
"""
WORSE = {"key": "daily_news", "name": "每日资讯", "trigger": {"event": "news_due"},
         "entry": {"max_entries": 100, "cooldown": "1h"},
         "nodes": {"mail": {"kind": "send", "channel": "email", "template": "news_b", "purpose": "transactional",
                            "next": "done"}, "done": {"kind": "exit"}}}
DAY1 = datetime(2026, 3, 1, 16, tzinfo=UTC)  # 2026-03-02 00:00 Shanghai


def local(day: int, hour: int = 0) -> datetime:
    """Day ``day`` (1 = the first), ``hour`` o'clock in Shanghai, as UTC."""
    return DAY1 + timedelta(days=day - 1, hours=hour)


def readers(name: str, count: int, days: list[int]) -> dict[str, Any]:
    return {"name": name, "count": count, "events": [{"at": f"{d - 1}d9h", "type": "news_due"} for d in days],
            "behaviour": {"open": 0, "delay": "1h", "reactions": [
                {"event": "message_opened", "template": "news_a", "probability": 0.4},
                {"event": "message_opened", "template": "news_b", "probability": 0.2}]}}


def run(tmp_path: Path, personas: list[dict[str, Any]], days: int = 10, worse_on_day_5: bool = True
        ) -> tuple[str, str, list[tuple[datetime, str, dict[str, Any]]], list[AlertRecord]]:
    actions = [{"at": "4d", "publish": WORSE}] if worse_on_day_5 else []
    scenario = parse_scenario({"seed": 7, "start": DAY1.isoformat(), "duration": f"{days}d", "personas": personas,
                               "actions": actions})
    simulator.simulate([JOURNEY], scenario, open_store=open_sandbox, database_dir=tmp_path / "sim")
    app = bootstrap(Settings(f"sqlite:///{(tmp_path / 'sim' / 'sim.db').as_posix()}"))
    try:
        with app.engine.connect() as c:
            pauses = [(r.at, r.actor, dict(r.details)) for r in c.execute(
                select(audit_log).where(audit_log.c.action == "journey.pause"))]
        with app.services.reader() as uow:
            journey = uow.journeys.get("daily_news")
            assert journey is not None
        return journey.status, journey.status_reason, pauses, alert_history(app.services, "daily_news")
    finally:
        app.close()


def test_open_rate_drop_on_day_5_pauses_the_journey_when_day_7_closes(tmp_path: Path) -> None:
    status, reason, pauses, history = run(tmp_path, [readers("reader", 240, list(range(1, 9)))], days=8)
    assert status == "paused"
    assert "paused by alert: open rate −" in reason and "for 3 days" in reason and "打开率" in reason
    [(at, actor, details)] = pauses
    assert actor == "system:alerts" and details["reason"] == reason
    # day 7 is final 6 h after it closes (opens within 6 h of the send count): paused then, not a day earlier
    assert local(8) < at <= local(8, 6) + timedelta(minutes=1)
    fired = [h for h in history if h.status == "trigger"]
    assert len(fired) == 1 and fired[0].acted
    assert [d["day"] for d in fired[0].details["days"]] == ["2026-03-06", "2026-03-07", "2026-03-08"]
    breaches = sorted(h.details["days"][-1]["day"] for h in history if h.status == "breach")
    assert breaches == ["2026-03-06", "2026-03-07"]  # days 5 and 6 breach without pausing


def test_a_low_volume_day_counts_neither_for_nor_against(tmp_path: Path) -> None:
    # day 6: 40 messages only (min volume 200): the streak is days 5, 7, 8 → paused when day 8 is final
    status, _, pauses, history = run(tmp_path, [readers("reader", 240, [1, 2, 3, 4, 5, 7, 8, 9]),
                                                readers("few", 40, [6])], days=9)
    assert status == "paused"
    [(at, _, _)] = pauses
    assert local(9) < at <= local(9, 6) + timedelta(minutes=1)
    fired = [h for h in history if h.status == "trigger"]
    assert [d["day"] for d in fired[0].details["days"]] == ["2026-03-06", "2026-03-08", "2026-03-09"]


def test_circuit_breaker_pauses_within_the_hour_of_a_complaint_spike(tmp_path: Path) -> None:
    complainers = {"name": "reader", "count": 300, "events": [{"at": "0d9h", "type": "news_due"},
                                                              {"at": "1d9h", "type": "news_due"}],
                   "behaviour": {"open": 0.3, "click": 0.3, "delay": "1h", "reactions": [
                       {"event": "message_complained", "probability": 0.05, "after": "10m"}]}}
    status, reason, pauses, history = run(tmp_path, [complainers], days=2, worse_on_day_5=False)
    assert status == "paused" and "complaint rate" in reason
    [(at, actor, _)] = pauses
    assert actor == "system:alerts" and local(1, 9) < at <= local(1, 10)  # sent at 09:00, paused before 10:00
    assert [h.rule for h in history if h.acted] == ["complaint-breaker"]
