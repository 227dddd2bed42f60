"""The workspace control group on a real database (SQLite and PostgreSQL): held-out contacts enter no journey's
treatment (transactional-only journeys excepted), every group stays queryable after it ends, uplift over all
contacts with its interval, and set/end are audited."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.errors import FieldError
from touchflow.domain.measurement.workspace_holdout import workspace_held_out
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.attribution_documents import workspace_uplift_document
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.journeys import publish_journey
from touchflow.services.workspace_holdout import (
    end_workspace_holdout,
    set_workspace_holdout,
    workspace_holdouts,
    workspace_uplift,
)
from touchflow.store.tables import (
    audit_log,
    contact_identities,
    holdout_runs,
    journey_runs,
    outbox,
    run_steps,
    workspace_settings,
)

MARKETING = """
key: {key}
trigger: {{event: signup}}
{extra}
nodes:
  hello: {{kind: send, channel: email, template: hello}}
"""
RECEIPT = """
key: receipt
trigger: {event: signup}
nodes:
  confirm: {kind: send, channel: email, template: confirm, purpose: transactional}
"""


def signups(app: Application, clock: VirtualClock, n: int) -> dict[str, str]:
    record_events(app.services, "web", [RawItem({"type": "signup", "email": f"u{i}@x.cn",
                                                 "occurred_at": clock.now().isoformat()}) for i in range(n)])
    with app.engine.connect() as c:
        return {str(v): str(k) for k, v in c.execute(select(contact_identities.c.contact_id,
                                                            contact_identities.c.value)
                                                     .where(contact_identities.c.kind == "email"))}


def test_held_out_contacts_get_no_journey_message(app: Application, clock: VirtualClock) -> None:
    publish_journey(app.services, MARKETING.format(key="welcome", extra="holdout: {share: 0.3, key: j}"),
                    actor="test")
    publish_journey(app.services, MARKETING.format(key="promo", extra=""), actor="test")
    publish_journey(app.services, RECEIPT, actor="test")
    group = set_workspace_holdout(app.services, 0.2, "ws1", actor="test")
    runtime = JourneyRuntime(app.services)
    n = 400
    by_email = signups(app, clock, n)
    runtime.tick()
    held = {cid for cid in by_email.values() if workspace_held_out(0.2, "ws1", cid)}
    assert abs(len(held) - n * 0.2) <= 3 * math.sqrt(n * 0.2 * 0.8)
    with app.engine.connect() as c:
        messages = c.execute(select(outbox.c.contact_id, outbox.c.template)).all()
        runs = c.execute(select(journey_runs.c.contact_id, journey_runs.c.status, journey_runs.c.id)).all()
        details = list(c.execute(select(run_steps.c.detail).where(run_steps.c.edge == "held_out")).scalars())
        journey_arm = set(c.execute(select(holdout_runs.c.contact_id)).scalars())
    marketing_to = {cid for cid, template in messages if template == "hello"}
    receipts_to = {cid for cid, template in messages if template == "confirm"}
    assert held and not held & marketing_to  # no marketing message from any journey
    assert receipts_to == set(by_email.values())  # a transactional-only journey still serves everyone
    held_runs = [r for r in runs if r.contact_id in held]
    assert len(held_runs) == 3 * len(held)  # welcome and promo held out, the receipt journey runs
    assert sum(1 for r in held_runs if r.status == "held_out") == 2 * len(held)
    assert sum(1 for d in details if d.get("workspace_holdout") == group.id) == 2 * len(held)
    assert not journey_arm & held and len(journey_arm) == n - len(held)  # the journey's own split: the rest only

    # ending the group: new entrants are treated again; the group stays queryable with its end
    clock.advance(timedelta(days=1))
    ended = end_workspace_holdout(app.services, actor="test")
    assert ended is not None and ended.ended_at == clock.now()
    assert end_workspace_holdout(app.services, actor="test") is None
    record_events(app.services, "web", [RawItem({"type": "signup", "email": "late@x.cn",
                                                 "occurred_at": clock.now().isoformat()})])
    runtime.tick()
    late = signups(app, clock, 0)["late@x.cn"]
    with app.engine.connect() as c:
        late_hello = c.execute(select(outbox.c.id).where(outbox.c.contact_id == late,
                                                         outbox.c.template == "hello")).all()
        late_held = [d for d in c.execute(select(run_steps.c.detail).where(run_steps.c.contact_id == late)).scalars()
                     if "workspace_holdout" in d]
    assert late_hello and not late_held  # promo (no holdout of its own) messages everyone again


def test_groups_stay_queryable_and_uplift(app: Application, clock: VirtualClock) -> None:
    first = set_workspace_holdout(app.services, 0.2, "a", actor="test")
    by_email = signups(app, clock, 600)
    clock.advance(timedelta(days=1))
    held = {cid for cid in by_email.values() if workspace_held_out(0.2, "a", cid)}
    orders = []
    for k, (email, cid) in enumerate(sorted(by_email.items())):
        if (cid in held and k % 10 == 0) or (cid not in held and k % 2 == 0):
            orders.append(RawItem({"type": "order_paid", "email": email, "occurred_at": clock.now().isoformat(),
                                   "properties": {"order_id": f"SO{k}", "amount": "100"}}))
    record_events(app.services, "shop", orders, route=False)
    clock.advance(timedelta(days=1))
    second = set_workspace_holdout(app.services, 0.05, "b", actor="test")  # ends the first at the same instant
    clock.advance(timedelta(days=1))
    end_workspace_holdout(app.services, actor="test")

    groups = workspace_holdouts(app.services)
    assert [g.id for g in groups] == [second.id, first.id]
    assert groups[1].ended_at == second.started_at and groups[0].ended_at == clock.now()
    newest, oldest = workspace_uplift(app.services)
    u = oldest.result
    assert (u.treated, u.control) == (600 - len(held), len(held))
    assert u.significant and u.conversion is not None and u.conversion.low > 0
    assert u.conversion.estimate == pytest.approx(u.treated_converted / u.treated - u.control_converted / u.control)
    assert u.revenue_per_contact is not None and u.revenue_per_contact.low > 0
    assert newest.result.treated_converted + newest.result.control_converted == 0  # no order in its span
    document = workspace_uplift_document([newest, oldest])
    assert [g["key"] for g in document["holdouts"]] == ["b", "a"] and document["holdouts"][1]["significant"]

    with app.engine.connect() as c:
        actions = [r.action for r in c.execute(select(audit_log.c.action).order_by(audit_log.c.id))]
        setting = c.execute(select(workspace_settings.c.value)
                            .where(workspace_settings.c.key == "holdout.workspace")).scalar_one()
    assert actions.count("holdout.workspace.set") == 2 and actions.count("holdout.workspace.end") == 1
    assert setting == {}


def test_bad_share_and_key_name_the_field(app: Application) -> None:
    for share, key, field in ((0.3, None, "share"), (0, None, "share"), (0.1, "no spaces", "key")):
        with pytest.raises(FieldError) as caught:
            set_workspace_holdout(app.services, share, key, actor="test")
        assert caught.value.field == field
    assert workspace_holdouts(app.services) == []
