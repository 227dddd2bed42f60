"""Stored duplicate suggestions (migration 0033) are the pairwise computation's suggestions — same pairs, scores,
reasons and order — on a varied workspace, after every kind of write that changes them, and at a stricter
threshold; the queue empties and the worker's pass drains it."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import delete, func, insert, select, update

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.duplicates import DuplicateSuggestion
from touchflow.domain.duplicates import suggest_duplicates as pairwise
from touchflow.services.contacts import suggest_duplicates
from touchflow.services.duplicate_index import DuplicateSweeper, pending_duplicates, refresh_duplicate_index
from touchflow.store.contact_deletion import SqlContactDeletion
from touchflow.store.tables import contacts, duplicate_dirty, duplicate_pairs

NAMES = ["王伟", "王伟", "李娜", "张敏", "欧阳明月", "欧阳明月儿", "Jonathan Smithson", "Jonathon Smithson",
         "Jonathan Smithsen", "Katherine Zeta-Jones", "Catherine Zeta Jones", "Maria Garcia", "Mariah Garcia",
         "Li Wei", "Alexander Hamilton", "Alexandra Hamilton"]
COMPANIES = ["星河科技", "星河科技", "远景制造", "Acme Trading Co", "Acme Trading Co Ltd", "ACME trading", "Globex",
             "", None]
CITIES = ["上海", "北京", "Hangzhou", None]


def _pairwise(app: Application, limit: int, threshold: float = 88.0) -> list[DuplicateSuggestion]:
    with app.services.reader() as uow:
        return pairwise(uow.contacts.duplicate_candidates(), threshold=threshold, limit=limit)


def _check(app: Application) -> int:
    stored = suggest_duplicates(app.services, limit=5000)
    assert stored == _pairwise(app, 5000)
    assert suggest_duplicates(app.services, limit=7) == _pairwise(app, 7)
    assert suggest_duplicates(app.services, limit=5000, threshold=93) == _pairwise(app, 5000, 93)
    assert pending_duplicates(app.services) == 0
    assert any(not s.reason.startswith("name 100%") for s in stored)  # different names that look alike too
    return len(stored)


def _row(i: int, rnd: random.Random, now: object) -> dict[str, object]:
    return {"id": f"d{i:04d}", "created_at": now, "updated_at": now, "custom": {}, "lineage": {},
            "name": rnd.choice(NAMES), "company": rnd.choice(COMPANIES), "city": rnd.choice(CITIES)}


def test_stored_suggestions_are_the_pairwise_ones_through_every_write(app: Application,
                                                                      clock: VirtualClock) -> None:
    rnd = random.Random(88)
    now = clock.now()
    with app.engine.begin() as c:
        c.execute(insert(contacts), [_row(i, rnd, now) for i in range(150)])
        c.execute(update(contacts).where(contacts.c.id.in_(["d0001", "d0002"])).values(merged_into="d0003"))
    assert pending_duplicates(app.services) > 100
    assert _check(app) > 25

    with app.engine.begin() as c:  # renamed, moved, company changed, merged, unmerged, deleted, new
        c.execute(update(contacts).where(contacts.c.id == "d0010").values(name="Jonathan Smithson"))
        c.execute(update(contacts).where(contacts.c.id == "d0011").values(city="北京"))
        c.execute(update(contacts).where(contacts.c.id == "d0012").values(company="Acme Trading Co"))
        c.execute(update(contacts).where(contacts.c.id == "d0013").values(name=None))
        c.execute(update(contacts).where(contacts.c.id.in_(["d0020", "d0021"])).values(merged_into="d0022"))
        c.execute(update(contacts).where(contacts.c.id == "d0001").values(merged_into=None))
        c.execute(update(contacts).where(contacts.c.id == "d0030").values(age=40))  # queues nothing
        SqlContactDeletion(c).delete_contacts(["d0040", "d0041"])
        c.execute(insert(contacts), [_row(i, rnd, now) for i in range(150, 170)])
        queued = set(c.execute(select(duplicate_dirty.c.contact_id)).scalars())
    assert "d0030" not in queued and {"d0010", "d0020", "d0001", "d0040", "d0160"} <= queued
    _check(app)
    with app.engine.connect() as c:  # the deleted and the merged-away have no stored pairs left
        gone = ["d0040", "d0041", "d0020", "d0021"]
        assert c.execute(select(func.count()).select_from(duplicate_pairs).where(
            duplicate_pairs.c.first.in_(gone) | duplicate_pairs.c.second.in_(gone))).scalar_one() == 0

    with app.engine.begin() as c:  # a merge the pass has not seen yet is already left out of the page
        c.execute(update(contacts).where(contacts.c.id.in_(["d0050", "d0051", "d0052"])).values(merged_into="d0053"))
    with app.services.reader() as uow:
        assert uow.duplicates.best(5000, 88.0) == _pairwise(app, 5000)


def test_the_worker_pass_drains_the_queue_in_bounded_steps(app: Application, clock: VirtualClock) -> None:
    rnd = random.Random(7)
    now = clock.now()
    with app.engine.begin() as c:
        c.execute(insert(contacts), [_row(i, rnd, now) for i in range(60)])
    sweep = DuplicateSweeper(app.services, per_pass=10)
    assert sweep() >= 10  # CHUNK-sized steps: one chunk takes all 60
    assert sweep() == 0  # not due again yet
    clock.advance(timedelta(minutes=1))
    assert sweep() == 0 and pending_duplicates(app.services) == 0
    with app.services.reader() as uow:
        assert uow.duplicates.best(5000, 88.0) == _pairwise(app, 5000)
    with app.engine.begin() as c:
        c.execute(delete(contacts).where(contacts.c.id == "d0005"))
    assert refresh_duplicate_index(app.services) == 1


def test_turning_encryption_on_keys_every_contact_again(app: Application, clock: VirtualClock) -> None:
    rnd = random.Random(26)
    now = clock.now()
    rows = [_row(i, rnd, now) for i in range(80)]
    with app.engine.begin() as c:
        c.execute(insert(contacts), rows)
    before = _check(app)
    app.pii_keys.rotate(clock.now, actor="test")  # names keyed by the blind index from now on
    with app.engine.begin() as c:  # a twin of every contact: each pairs with a contact keyed the old way
        c.execute(insert(contacts), [{**row, "id": f"t{row['id']}"} for row in rows])
    assert _check(app) > before


def test_the_page_shows_stored_pairs_and_says_how_many_wait(app: Application, clock: VirtualClock) -> None:
    from tests.e2e.console_support import console_client, sign_in

    now = clock.now()
    twins = [{"id": f"p{i}", "created_at": now, "updated_at": now, "custom": {}, "lineage": {}, "name": "王建国",
              "company": "苏州精密机械有限公司", "city": "苏州"} for i in range(2)]
    with app.engine.begin() as c:
        c.execute(insert(contacts), twins)
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        page = client.get("/contacts/duplicates")  # two queued: compared by the page itself
        assert page.status_code == 200 and "/contacts/compare?a=p0&amp;b=p1" in page.text
        assert "正在比对" not in page.text
        with app.engine.begin() as c:  # more than the page compares itself: left to the worker, and said so
            c.execute(insert(contacts), [{**twins[0], "id": f"q{i:05d}", "city": "无锡"} for i in range(2001)])
        page = client.get("/contacts/duplicates")
        assert "/contacts/compare?a=p0&amp;b=p1" in page.text and "q00000" not in page.text
        assert "还有 2,001 位最近变更的联系人正在比对" in page.text
