"""Goals (A6) on SQLite and PostgreSQL: live values from the data, "not measured" where nothing can be measured,
the at-risk flag from recorded values, and ``set_goals`` validated and audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from touchflow.bootstrap import Application
from touchflow.domain.actors import Actor
from touchflow.domain.measurement.goals import GoalError
from touchflow.services.goals import default_goals, goal_lines, goal_table, measure, record_goal_values, set_goals
from touchflow.store.tables import audit_log, contacts, events

_made = iter(range(1_000_000))


def _events(app: Application, kind: str, properties: list[dict[str, Any]], days_ago: int = 3) -> None:
    at = app.services.clock.now() - timedelta(days=days_ago)
    with app.engine.begin() as conn:
        for props in properties:
            cid = f"goal{next(_made):06d}"
            conn.execute(insert(contacts).values(id=cid, created_at=at, updated_at=at, custom={}, lineage={}))
            conn.execute(insert(events).values(id=f"{cid}_e", contact_id=cid, type=kind, occurred_at=at,
                                               received_at=at, source="test", properties=props))


def test_live_values_and_not_measured(app: Application) -> None:
    _events(app, "coupon_claimed", [{"coupon_id": "back"}] * 10)
    _events(app, "coupon_redeemed", [{"coupon_id": "back"}] * 2)
    _events(app, "survey_response", [{"survey_id": "s", "score": s} for s in (10, 9, 6, 8)])
    _events(app, "survey_response", [{"survey_id": "s", "score": 0}], days_ago=200)  # outside the 90 days
    with app.services.uow() as uow:
        uow.sources.record_sync("crm", 100, 96, 4, app.services.clock.now())
        uow.commit()

    values = measure(app.services)

    assert values["coupon_use"] == pytest.approx(0.2)
    assert values["nps"] == pytest.approx(25.0)  # 2 promoters, 1 detractor of 4
    assert values["data_sync_success"] == pytest.approx(0.96)
    for unmeasured in ("persona_coverage", "lead_response_hours", "followup_timeliness", "intent_conversion",
                       "repurchase_growth"):
        assert values[unmeasured] is None, unmeasured
    lines = {g.key: g for g in goal_lines(app.services, values)}
    assert lines["coupon_use"].progress == 1.0 and not lines["coupon_use"].at_risk
    assert lines["persona_coverage"].value is None and lines["persona_coverage"].note == "not measured"
    assert lines["nps"].progress == pytest.approx(0.5) and lines["nps"].note == "no trend yet"


def test_a_falling_trend_is_at_risk_and_values_are_recorded_daily(app: Application) -> None:
    _events(app, "survey_response", [{"survey_id": "s", "score": s} for s in (10, 9, 6, 8)])  # NPS 25
    table = goal_table(app.services)
    assert table.launch is not None and str(table.launch) == "2026-03-02"  # seeded at init: launch today
    today = table.launch
    with app.services.uow() as uow:
        uow.reports.record_goal_value("nps", today - timedelta(days=20), 40.0)
        uow.reports.record_goal_value("nps", today - timedelta(days=10), 32.0)
        uow.commit()

    nps = next(g for g in goal_lines(app.services) if g.key == "nps")
    assert nps.value == pytest.approx(25.0) and nps.at_risk  # falling: never reaches 50 by month 12
    assert "trend reaches" in nps.note

    assert record_goal_values(app.services) == 1  # only NPS is measurable here
    with app.services.reader() as uow:
        assert uow.reports.goal_history("nps")[-1] == (today, pytest.approx(25.0))
    record_goal_values(app.services)  # again the same day: one value per day
    with app.services.reader() as uow:
        assert len(uow.reports.goal_history("nps")) == 3


def test_set_goals_is_validated_and_audited(app: Application) -> None:
    document = default_goals()
    document["launch"] = "2026-01-01"
    document["phases"][2]["objectives"][0]["key_results"][1]["target"] = 60
    set_goals(app.services, document, actor=Actor.os_user("alice"))

    table = goal_table(app.services)
    nps = table.find("nps")
    assert str(table.launch) == "2026-01-01" and nps is not None and nps.target == 60
    with app.engine.connect() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.action == "goals.set")).one()
    assert row.actor == "os:alice" and "nps" in row.details["key_results"]

    document["phases"][0]["objectives"][0]["key_results"][0]["metric"] = "vibes"
    with pytest.raises(GoalError, match="metric"):
        set_goals(app.services, document, actor=Actor.os_user("alice"))
