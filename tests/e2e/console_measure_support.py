"""Known measurement data for the console's measurement pages: the welcome journey sends two templates over two
weeks; in the second week traffic moves to the template people open less, and that template gets worse too, so
the open rate drops and "explain this drop" has both a mix shift and a rate change to show.

Week one (local 18–20 Feb): A 40 sent / 20 opened, B 10 / 5. Week two (25–27 Feb): A 10 / 5, B 40 / 4.
The virtual clock stands at 2 March 09:00 Shanghai, so "last 7 days" is 24 Feb – 2 Mar against 17–23 Feb.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import insert

from tests.integration.reports_support import Scenario, local
from touchflow.bootstrap import Application
from touchflow.services.metrics import refresh_rollups
from touchflow.store.tables import contacts, events, outbox

__all__ = ["record_history", "seed_open_rate_drop"]

PLAN = ((18, "welcome_a", 40, 20), (19, "welcome_b", 10, 5), (25, "welcome_a", 10, 5), (26, "welcome_b", 40, 4))


def seed_open_rate_drop(app: Application) -> Scenario:
    scenario = Scenario(app)
    n = 0
    with app.engine.begin() as conn:
        for day, template, sent, opened in PLAN:
            at = local(day)
            for i in range(sent):
                n += 1
                cid, mid = f"mc{n:05d}", f"mm{n:05d}"
                conn.execute(insert(contacts).values(id=cid, created_at=at, updated_at=at, custom={}, lineage={}))
                conn.execute(insert(outbox).values(
                    id=mid, idempotency_key=f"k{mid}", contact_id=cid, journey_id=scenario.journey_id,
                    node_id="hello", channel="email", template=template, payload={}, status="sent", attempts=1,
                    created_at=at, updated_at=at, next_attempt_at=at, sent_at=at, address=f"u{n}@qq.com"))
                props = {"message_id": mid, "journey_id": scenario.journey_id, "template": template,
                         "channel": "email", "node_id": "hello"}
                kinds = ["message_sent"] + (["message_opened"] if i < opened else [])
                for k, kind in enumerate(kinds):
                    conn.execute(insert(events).values(
                        id=f"e{mid}_{k}", contact_id=cid, type=kind, occurred_at=at + timedelta(minutes=k),
                        received_at=at + timedelta(minutes=k), source="touchflow", properties=props))
    refresh_rollups(app.services, quiescent=True)
    return scenario


def record_history(app: Application, key: str, values: list[float]) -> None:
    """Daily recorded values of a key result from 20 Feb on (what the worker's goal pass records)."""
    with app.services.uow() as uow:
        for n, value in enumerate(values):
            uow.reports.record_goal_value(key, date(2026, 2, 20) + timedelta(days=n), value)
        uow.commit()
