"""Retention (ADR 0048): finished rows past their days are deleted, rows in use never; the policy is checked
and audited. SQLite and PostgreSQL (``app`` fixture); time is a virtual clock."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, update
from typer.testing import CliRunner

from tests.integration.test_dispatcher import enqueue, make_contacts
from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.clock import VirtualClock
from touchflow.domain.errors import FieldError
from touchflow.services.retention import RetentionPass, purge, retention_policy, set_retention_policy
from touchflow.store.tables import audit_log, events, journey_runs, journeys, outbox, run_steps


def _count(app: Application, table: object, *where: object) -> int:
    with app.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())  # type: ignore[arg-type]


def _seed(app: Application, clock: VirtualClock) -> list[str]:
    """Old rows (now) that will age past retention, of each kind, finished and in use."""
    contacts = make_contacts(app, 4)
    now = clock.now()
    ids = enqueue(app, [(cid, "sms", {}) for cid in contacts])
    with app.engine.begin() as c:
        c.execute(update(outbox).where(outbox.c.id.in_(ids[:3])).values(status="sent"))  # the 4th stays queued
        c.execute(insert(events), [{"id": f"e{n}", "contact_id": contacts[0], "type": "page_view", "occurred_at": now,
                                    "received_at": now, "source": "web", "properties": {}} for n in range(3)])
        c.execute(insert(journeys).values(id="j1", key="welcome", name="welcome", status="active",
                                          current_version=1, created_at=now, updated_at=now))
        for run_id, status in (("r-live", "waiting"), ("r-done", "completed")):
            c.execute(insert(journey_runs).values(id=run_id, journey_id="j1", version=1, contact_id=contacts[0],
                                                  node_id="n", status=status, entered_at=now, updated_at=now,
                                                  step_no=1, attempts=0))
        c.execute(insert(run_steps), [{"run_id": run_id, "contact_id": contacts[0], "journey_id": "j1",
                                       "node_id": "n", "kind": "wait", "edge": None, "at": now, "detail": {}}
                                      for run_id in ("r-live", "r-done", "r-gone", "r-done")])
    return ids


def test_purge_deletes_only_finished_rows_past_their_days(app: Application, clock: VirtualClock) -> None:
    ids = _seed(app, clock)
    recent_events = _count(app, events)
    clock.advance(timedelta(days=399))
    assert purge(app.services) == {"outbox": 0, "run_steps": 0, "writeback": 0, "capacity": 0}  # not yet
    clock.advance(timedelta(days=2))
    gone = purge(app.services, batch=2)  # small batches: the loop goes on until a batch comes back short
    assert gone["outbox"] == 3 and gone["run_steps"] == 3
    with app.engine.connect() as c:
        assert list(c.execute(select(outbox.c.id)).scalars()) == [ids[3]]  # the queued one stays
        assert list(c.execute(select(run_steps.c.run_id)).scalars()) == ["r-live"]  # a live run keeps its trace
    assert _count(app, events) == recent_events  # events: kept forever unless a person sets days
    set_retention_policy(app.services, {"events": 365}, actor="user:ops")
    assert purge(app.services)["events"] == recent_events and _count(app, events) == 0


def test_policy_is_checked_and_audited(app: Application) -> None:
    with pytest.raises(FieldError) as caught:
        set_retention_policy(app.services, {"outbox": 10}, actor="user:ops")  # frequency caps read 90 days
    assert caught.value.field == "outbox"
    with pytest.raises(FieldError) as caught:
        set_retention_policy(app.services, {"tables": 10}, actor="user:ops")
    assert caught.value.field == "tables"
    policy = set_retention_policy(app.services, {"events": 730, "writeback": None}, actor="user:ops")
    assert (policy.events, policy.outbox, policy.writeback) == (730, 400, None)
    assert retention_policy(app.services) == policy
    with app.engine.connect() as c:
        details = c.execute(select(audit_log.c.details).where(audit_log.c.action == "retention.set")).scalar_one()
    assert details["before"]["events"] is None and details["after"]["events"] == 730


def test_the_worker_pass_runs_every_six_hours_and_the_command_now(app: Application, clock: VirtualClock) -> None:
    _seed(app, clock)
    clock.advance(timedelta(days=401))
    sweep = RetentionPass(app.services)
    assert sweep() == 6  # 3 messages + 3 steps
    more = enqueue(app, [(c, "sms", {}) for c in make_contacts(app, 1)])
    long_ago = clock.now() - timedelta(days=500)
    with app.engine.begin() as c:
        c.execute(update(outbox).where(outbox.c.id.in_(more)).values(status="sent", updated_at=long_ago))
    assert sweep() == 0  # within six hours of the last pass
    clock.advance(timedelta(hours=6))
    assert sweep() == 1
    env = {"TOUCHFLOW_DATABASE_URL": app.settings.database_url}
    result = CliRunner().invoke(cli, ["retention", "run", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["outbox"] == 0
    result = CliRunner().invoke(cli, ["retention", "set", "outbox=5"], env=env)
    assert result.exit_code == 2 and "outbox" in result.output
    result = CliRunner().invoke(cli, ["retention", "set", "events=365", "writeback=forever"], env=env)
    assert result.exit_code == 0 and json.loads(result.output)["events"] == 365
