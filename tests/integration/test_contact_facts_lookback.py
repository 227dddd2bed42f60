"""The contact pass reads each contact once for tiers and stages, and each event type only as far back as a
tier signal or a stage rule reads it (issue 17: "facts loaded only for what is read"). The results are those of
reading all history."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from tests.integration.test_trigger_routing import traced
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.contacts import resolve_contact_id
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.lifecycle_pass import refresh_all

WHO = "wang.fang@lookback.test"


def _events(app: Application, items: list[tuple[str, datetime, dict[str, Any]]]) -> None:
    record_events(app.services, "web", [RawItem({"id": f"lb{kind}{at.timestamp()}", "type": kind, "email": WHO,
                                                 "occurred_at": at.isoformat(), "properties": props})
                                        for kind, at, props in items])


def _contact(app: Application) -> dict[str, Any]:
    with app.services.reader() as uow:
        cid = resolve_contact_id(uow, f"email:{WHO}")
        facts = uow.journeys.load_facts([cid], None, None)[cid]
    return {"facts": facts, "id": cid}


def test_old_page_views_are_not_read_and_do_not_count(app: Application, clock: VirtualClock) -> None:
    now = clock.now()
    _events(app, [*(("page_view", now - timedelta(days=40, minutes=n), {"url": "https://x.test/"}) for n in range(6)),
                  *(("page_view", now - timedelta(days=2, minutes=n), {"url": "https://x.test/"}) for n in range(2)),
                  ("order_paid", now - timedelta(days=400), {"order_id": "o1", "amount": 99})])
    cid = _contact(app)["id"]
    with app.services.reader() as uow:  # the store's bounded read: per type, from its time on
        bounded = uow.journeys.load_facts([cid], {"page_view", "order_paid"}, {"page_view": now - timedelta(days=30)})
    assert sorted(e.type for e in bounded[cid].events) == ["order_paid", "page_view", "page_view"]

    statements: list[str] = []
    with traced(app, statements):
        refresh_all(app.services)
    values = _contact(app)["facts"].values
    # two page views in 30 days: not "considering" (>= 3), however many older ones; an order 400 days ago: 普通
    assert (values["custom.buying_stage"], values["custom.value_tier"]) == ("认知", "普通")
    # one read of the contacts' tags for tiers and stages together (was one each)
    facts_reads = [s for s in statements if re.search(r"SELECT contact_tags\.contact_id, contact_tags\.tag\s+FROM", s)]
    assert len(facts_reads) == 1
    # and its read of events bounds page views to the tiers' 30 days (orders: all history, for RFM's recency)
    assert any(re.search(r"FROM events.*events\.occurred_at >=", s, re.S) for s in statements)

    _events(app, [("page_view", now - timedelta(hours=1), {"url": "https://x.test/"})])
    refresh_all(app.services)
    assert _contact(app)["facts"].values["custom.buying_stage"] == "考虑"  # the third in 30 days
