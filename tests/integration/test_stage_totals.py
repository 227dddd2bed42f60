"""The lifecycle page's stored aggregate (``stage_latest`` / ``stage_totals``, migration 0033) gives exactly the
numbers of the query it replaced — each live contact's latest stage change counted by stage, previous stage and
whether it is recent — on a varied history, after every kind of write that moves them, and when the migration
fills it from a history stored before it existed."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

from alembic import command
from sqlalchemy import Connection, delete, func, insert, select, update

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.scoring.ports import StageChange
from touchflow.services.lifecycle_overview import stage_overview
from touchflow.store import schema
from touchflow.store.contact_deletion import SqlContactDeletion
from touchflow.store.stage_totals_sql import read_totals
from touchflow.store.tables import contacts, stage_history, stage_latest

STAGES = ["new_visitor", "prospect", "intent", "customer", "advocate"]
Totals = Counter[tuple[str, str, bool]]


def _reference(c: Connection, since: datetime) -> Totals:
    """The query the page ran before 0033 (store/lifecycle.py at 0032): a scan of every latest change."""
    h, k = stage_history.alias("h"), contacts.alias("k")
    latest = select(func.max(stage_history.c.id).label("id")).group_by(stage_history.c.contact_id).subquery()
    recent = (h.c.at >= since).label("recent")
    query = (select(h.c.stage, h.c.from_stage, recent, func.count().label("n"))
             .select_from(latest.join(h, h.c.id == latest.c.id).join(k, k.c.id == h.c.contact_id))
             .where(k.c.merged_into.is_(None)).group_by(h.c.stage, h.c.from_stage, recent))
    found: Totals = Counter()
    for r in c.execute(query):
        found[(r.stage, r.from_stage or "", bool(r.recent))] += int(r.n)
    return found


def _stored(c: Connection, since: datetime) -> Totals:
    found: Totals = Counter()
    for stage, from_stage, recent, n in read_totals(c, since):
        found[(stage, from_stage or "", recent)] += n
    return found


def _check(app: Application, now: datetime) -> int:
    """Compares at windows whose start falls at midnight, mid-day, just around stored times; returns contacts."""
    with app.engine.connect() as c:
        times = sorted(c.execute(select(stage_history.c.at)).scalars())
        starts = [now - timedelta(days=d) for d in (0, 1, 7, 30, 365, 4000)]
        starts += [now - timedelta(days=3, hours=5), now.replace(hour=0, minute=0) - timedelta(days=2)]
        starts += [times[i] for i in range(0, len(times), 7)] + [times[-1] + timedelta(microseconds=1)]
        for since in starts:
            assert _stored(c, since) == _reference(c, since), since
        return sum(_reference(c, now).values())


def _history(rnd: random.Random, now: datetime, ids: list[str]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for cid in ids:
        before: str | None = None
        for _ in range(rnd.choice([0, 1, 1, 2, 3])):
            stage = rnd.choice([s for s in STAGES if s != before])
            # times cluster on a few days and hours, so several changes share a day and some a second
            at = now - timedelta(days=rnd.choice([0, 0, 1, 2, 2, 3, 29, 30, 31, 200]), hours=rnd.randrange(0, 30),
                                 seconds=rnd.choice([0, 0, 1, 59]), microseconds=rnd.choice([0, 500]))
            rows.append({"contact_id": cid, "stage": stage, "from_stage": before, "at": at,
                         "rule": "r", "by": "test"})
            before = stage
    return rows


def test_aggregate_matches_the_scan_through_every_kind_of_write(app: Application, clock: VirtualClock) -> None:
    rnd = random.Random(15)
    now = clock.now() + timedelta(hours=13, minutes=17)
    ids = [f"c{i:03d}" for i in range(120)]
    with app.engine.begin() as c:
        c.execute(insert(contacts), [{"id": cid, "created_at": now, "updated_at": now, "custom": {},
                                      "lineage": {}} for cid in ids[:110]])  # the last ten come later
        c.execute(insert(stage_history), _history(rnd, now, ids))
        c.execute(update(contacts).where(contacts.c.id.in_(ids[:8])).values(merged_into=ids[50]))
    assert _check(app, now) > 50

    with app.engine.begin() as c:  # contacts created after their history; one of them merged away at once
        c.execute(insert(contacts), [{"id": cid, "created_at": now, "updated_at": now, "custom": {},
                                      "lineage": {}, "merged_into": ids[0] if cid == ids[111] else None}
                                     for cid in ids[110:]])
    _check(app, now)

    with app.services.uow() as uow:  # new stage changes through the repository, as the lifecycle pass writes them
        uow.lifecycle.add_stage_changes([StageChange(cid, rnd.choice(STAGES), rnd.choice([None, *STAGES]),
                                                     now - timedelta(hours=rnd.randrange(0, 80)), "rule", "test")
                                         for cid in rnd.sample(ids, 40)])
        uow.commit()
    _check(app, now)

    with app.engine.begin() as c:  # an older change written late does not replace the latest one
        c.execute(insert(stage_history), [{"contact_id": ids[60], "stage": "advocate", "from_stage": None,
                                           "at": now - timedelta(days=900), "rule": "r", "by": "test"}])
    _check(app, now)

    with app.engine.begin() as c:  # unmerged again, merged, and history rows erased (a latest one too)
        c.execute(update(contacts).where(contacts.c.id.in_(ids[:4])).values(merged_into=None))
        c.execute(update(contacts).where(contacts.c.id.in_(ids[20:26])).values(merged_into=ids[70]))
        c.execute(update(contacts).where(contacts.c.id == ids[30]).values(merged_into=ids[71]))  # twice
        c.execute(update(contacts).where(contacts.c.id == ids[30]).values(merged_into=ids[72]))
        latest = c.execute(select(func.max(stage_history.c.id)).where(stage_history.c.contact_id == ids[40])
                           ).scalar_one()
        if latest is not None:
            c.execute(delete(stage_history).where(stage_history.c.id == latest))
        c.execute(delete(stage_history).where(stage_history.c.contact_id == ids[41]))
    _check(app, now)

    with app.engine.begin() as c:  # whole contacts deleted (erasure), with what hangs on them
        SqlContactDeletion(c).delete_contacts(ids[80:90])
        c.execute(delete(contacts).where(contacts.c.id == ids[91]))  # the row alone; its history stays
    _check(app, now)
    with app.engine.connect() as c:
        assert set(c.execute(select(stage_latest.c.contact_id)).scalars()) == set(
            c.execute(select(stage_history.c.contact_id).distinct()).scalars())

    overview = stage_overview(app.services, days=30)
    with app.engine.connect() as c:
        reference = _reference(c, app.services.clock.now() - timedelta(days=30))
    counts: Counter[str] = Counter()
    for (stage, _from, _recent), n in reference.items():
        counts[stage] += n
    assert dict(overview.counts) == dict(counts)
    flows = Counter({(f, s): n for (s, f, r), n in reference.items() if r})
    assert {(a, b): n for a, b, n in overview.flows} == dict(flows)


def test_the_migration_fills_the_aggregate_from_stored_history(app: Application, clock: VirtualClock) -> None:
    rnd = random.Random(49)
    now = clock.now()
    ids = [f"m{i:03d}" for i in range(60)]
    config = schema._config()  # the same migrations init runs
    with app.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0032_console_scale")
    try:
        with app.engine.begin() as c:
            c.execute(insert(contacts), [{"id": cid, "created_at": now, "updated_at": now, "custom": {},
                                          "lineage": {}, "merged_into": ids[0] if i % 9 == 4 else None}
                                         for i, cid in enumerate(ids[:55])])
            c.execute(insert(stage_history), _history(rnd, now, ids))
    finally:
        app.init_database()
    assert _check(app, now) > 20
