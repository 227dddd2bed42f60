"""The runs page of a journey (J9) is paged by the database, not in Python: every page of 130 runs (more than two
pages of 50) in every status filter holds exactly the runs that ordering all of them in Python gives — newest
entry first, ties (runs entered in the same instant) by id in code-point order whatever PostgreSQL's text
collation (ids mixing ``R_``, ``r-``, ``r_``, ``rA``) — with the totals and counts by status."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.journey_runs import RUN_STATUSES, journey_run_page
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import journey_runs

JOURNEY = """
key: paged
name: 分页
trigger: {event: signup}
nodes:
  hello: {kind: send, channel: email, template: hi}
"""
RUNS = 130


def test_every_page_holds_what_sorting_every_run_gives(app: Application, clock: VirtualClock) -> None:
    record = publish_journey(app.services, JOURNEY, actor="test").journey
    report = upsert_contacts(app.services, "crm", [RawItem({"email": f"p{n}@pages.test"}) for n in range(RUNS)])
    people = [c for c in report.contact_ids if c is not None]
    statuses = ("waiting", "completed", "failed", "exited")
    rows = []
    for n, contact in enumerate(people):
        entered = clock.now() - timedelta(minutes=n % 7)  # many runs share an instant: the id decides
        rows.append({"id": ("R_", "r-", "r_", "rA")[n % 4] + f"{(n * 37) % RUNS:04d}", "journey_id": record.id,
                     "version": 1, "contact_id": contact, "node_id": "hello", "status": statuses[n % 3 + (n % 11 == 0)],
                     "entered_at": entered, "updated_at": entered, "step_no": 1, "attempts": 0})
    with app.engine.begin() as c:
        c.execute(insert(journey_runs), rows)
    order = sorted(rows, key=lambda r: (r["entered_at"], r["id"]), reverse=True)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    for status in (None, *RUN_STATUSES):
        chosen = [r["id"] for r in order if status is None or r["status"] == status]
        seen: list[str] = []
        offset: int | None = 0
        while offset is not None:
            page = journey_run_page(app.services, "paged", status, offset, 50, with_labels=False)
            assert (page.total, page.counts) == (len(chosen), counts)
            assert [line.run.id for line in page.lines] == chosen[offset:offset + 50], (status, offset)
            seen += [line.run.id for line in page.lines]
            offset = page.next_offset
        assert seen == chosen
    assert len(journey_run_page(app.services, "paged", None, 0, 50).lines) == 50
    assert journey_run_page(app.services, "paged", None, RUNS + 10, 50).lines == []
