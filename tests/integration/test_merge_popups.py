"""Pop-ups queued for a contact that is merged away reach the survivor (SQLite and PostgreSQL)."""

from __future__ import annotations

from touchflow.bootstrap import Application
from touchflow.domain.messaging.ports import OnsiteMessage
from touchflow.domain.outbox import OutboxMessage
from touchflow.engine.dispatcher import Dispatcher
from touchflow.services.contacts import find_contact_id
from touchflow.services.ingest import RawItem, record_events, upsert_contacts


def _two_contacts(app: Application) -> tuple[str, str]:
    upsert_contacts(app.services, "crm", [RawItem({"email": "li.lei@example.cn", "name": "李雷"})])
    record_events(app.services, "website", [RawItem({"type": "page_view", "anon": "v-9",
                                                     "properties": {"url": "/pricing"}})])
    return find_contact_id(app.services, "anon:v-9"), find_contact_id(app.services, "email:li.lei@example.cn")


def _merge(app: Application) -> str:
    report = record_events(app.services, "website", [RawItem({"type": "signup", "anon": "v-9",
                                                              "email": "li.lei@example.cn"})])
    assert report.merged == 1
    return find_contact_id(app.services, "anon:v-9")


def test_pending_popups_move_to_the_survivor(app: Application) -> None:
    anon, known = _two_contacts(app)
    now = app.services.clock.now()
    with app.services.uow() as uow:
        uow.messages.add_onsite([OnsiteMessage(f"p-{n}", cid, f"o-{n}", "春季上新", "新品已上市", None, "pending", now)
                                 for n, cid in enumerate((anon, known))])
        uow.commit()
    survivor = _merge(app)
    with app.services.reader() as uow:
        shown = uow.messages.onsite_pending(survivor, now, 10)
    assert sorted(p.outbox_id for p in shown) == ["o-0", "o-1"]  # the merged-away one's pop-up too


def test_a_popup_queued_before_the_merge_and_sent_after_it_reaches_the_survivor(app: Application) -> None:
    anon, known = _two_contacts(app)
    now = app.services.clock.now()
    queued = [OutboxMessage(f"o-{n}", f"k-{n}", None, cid, None, "popup", "onsite", None,
                            {"purpose": "transactional", "text": "欢迎回来"}, "queued", 0, now, now)
              for n, cid in enumerate((anon, known))]
    with app.services.uow() as uow:
        uow.messages.enqueue(queued)
        uow.commit()
    survivor = _merge(app)
    dispatcher = Dispatcher(app.services)
    try:
        dispatcher.dispatch_all()
    finally:
        dispatcher.close()
    with app.services.reader() as uow:
        shown = uow.messages.onsite_pending(survivor, now, 10)
    assert sorted(p.outbox_id for p in shown) == ["o-0", "o-1"]
