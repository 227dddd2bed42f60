"""The quarterly flow review (A7) on SQLite and PostgreSQL: one review task per journey per quarter, each
version's measured effect (14 days before vs after its publish), lint warnings, guardrail skips,
recommendations, and the reviewer's decision, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.integration.reports_support import WELCOME, Scenario, local
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.actors import Actor
from touchflow.services.journeys import publish_journey
from touchflow.services.reviews import ReviewNotFound, decide_review, open_reviews, quarterly_review
from touchflow.store.tables import audit_log, journey_versions

NO_GOAL = """
key: cart_reminder
name: 购物车提醒
trigger:
  event: cart_abandoned
nodes:
  wait_open:
    kind: wait_event
    event: order_paid
    on_event: done
  done:
    kind: exit
"""


def test_review_tasks_effects_and_recommendations(app: Application, clock: VirtualClock) -> None:
    clock.set(local(10, month=1))
    scenario = Scenario(app)  # welcome v1, published 2026-01-10
    publish_journey(app.services, NO_GOAL, actor="test")
    scenario.runs(local(15, month=1), entered=20, converted=8)  # v1: 40 % convert
    scenario.messages(local(15, month=1), sent=20, skipped={"quiet_hours": 10}, delivered=20, opened=2)
    clock.set(local(1, month=2))
    publish_journey(app.services, WELCOME.replace("新用户欢迎流程", "新用户欢迎流程（新版）"), actor="marketer")
    scenario.runs(local(5, month=2), entered=20, converted=2)  # v2: 10 % convert
    clock.set(local(2, month=4))  # the first quarter has closed

    made = open_reviews(app.services)
    assert sorted(r.journey_key for r in made) == ["cart_reminder", "welcome"]
    assert {r.quarter for r in made} == {"2026Q1"} and all(r.status == "open" for r in made)
    assert len(open_reviews(app.services)) == 2  # idempotent: still one task per journey and quarter
    assert all(r.due_at == local(15, hour=0, month=4) for r in made)  # two weeks after the quarter

    quarter, reviews = quarterly_review(app.services)
    assert quarter == "2026Q1"
    welcome = next(r for r in reviews if r.key == "welcome")
    assert welcome.quarter.entered == 40 and welcome.quarter.converted == 10 and welcome.quarter.skipped == 10
    assert welcome.skip_share == pytest.approx(0.25)
    assert [v.version for v in welcome.versions] == [1, 2]
    v2 = welcome.versions[1]
    assert (v2.before.entered, v2.before.converted, v2.after.entered, v2.after.converted) == (0, 0, 20, 2)
    v1 = welcome.versions[0]
    assert (v1.after.entered, v1.after.converted) == (20, 8) and v1.published_by == "test"
    assert welcome.has_goal and "open_low|10%" in welcome.recommendations  # 2 opens of 20 delivered
    assert "skips_high|25%" in welcome.recommendations
    cart = next(r for r in reviews if r.key == "cart_reminder")
    assert not cart.has_goal and cart.recommendations == ["no_entrants"]
    assert any(w.startswith("wait-without-timeout") for w in cart.lint)


def test_a_version_that_hurt_conversion_is_flagged(app: Application, clock: VirtualClock) -> None:
    clock.set(local(1, month=1))
    scenario = Scenario(app)
    clock.set(local(1, month=2))
    publish_journey(app.services, WELCOME.replace("新用户欢迎流程", "欢迎 v2"), actor="marketer")
    with app.engine.begin() as conn:  # the v2 publish at 2026-02-01 10:00 local, as stored
        conn.execute(update(journey_versions).where(journey_versions.c.version == 2)
                     .values(published_at=local(1, month=2)))
    scenario.runs(local(1, month=2) - timedelta(days=5), entered=20, converted=10)
    scenario.runs(local(1, month=2) + timedelta(days=5), entered=20, converted=2)
    clock.set(local(2, month=4))

    _, reviews = quarterly_review(app.services, "2026Q1")

    [welcome] = reviews
    assert welcome.versions[-1].conversion_change == pytest.approx(0.1 - 0.5)
    assert "version_hurt|v2" in welcome.recommendations


def test_the_decision_is_recorded_and_audited(app: Application, clock: VirtualClock) -> None:
    Scenario(app)
    clock.set(local(2, month=4))
    record = decide_review(app.services, "welcome", "change", "把首封邮件改为上午 10 点发送",
                           actor=Actor.os_user("lihua"))

    assert (record.quarter, record.status, record.decision) == ("2026Q1", "decided", "change")
    assert record.decided_by == "os:lihua"
    _, [review] = quarterly_review(app.services)
    assert review.decision == "change" and review.note == "把首封邮件改为上午 10 点发送"
    with app.engine.connect() as conn:
        row = conn.execute(select(audit_log).where(audit_log.c.action == "review.decide")).one()
    assert row.actor == "os:lihua" and row.subject == "journey:welcome"
    assert row.details["decision"] == "change" and row.details["quarter"] == "2026Q1"

    with pytest.raises(ValueError, match="decision"):
        decide_review(app.services, "welcome", "maybe", "", actor=Actor.os_user("lihua"))
    with pytest.raises(ReviewNotFound):
        decide_review(app.services, "nope", "keep", "", actor=Actor.os_user("lihua"))
    with pytest.raises(ValueError, match="quarter"):
        decide_review(app.services, "welcome", "keep", "", actor=Actor.os_user("lihua"), quarter="2026Q5")
