"""Importing the same file again restates no consent (ADR 0013): a withdrawal made after the first import
stays, and consent the file states unchanged writes no history. SQLite and PostgreSQL.

The file's rows carry consent but no update time, so every import stamps them with the time of ingest; before
the fix the second import's later stamp made its "是" newer than the person's unsubscribe.
"""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.contacts import ContactState
from touchflow.domain.identities import Identity
from touchflow.engine import import_file
from touchflow.services.ingest import RawItem, record_events
from touchflow.store.tables import consent_ledger, contact_consents, contacts

ROWS = [["姓名", "邮箱", "邮件订阅", "短信订阅"],
        ["林一", "lin@example.com", "是", "是"],
        ["周二", "zhou@example.com", "是", "否"]]


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "crm.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(ROWS)
    return path


def _contact(app: Application, email: str) -> ContactState:
    with app.services.reader() as uow:
        contact_id = uow.contacts.lookup([Identity("email", email)])[Identity("email", email)]
        return uow.contacts.load([contact_id])[contact_id]


def _stored(app: Application) -> tuple[object, ...]:
    """What a re-import that restates nothing leaves as it was: consents in force, their history, the rows."""
    with app.engine.connect() as c:
        return (c.execute(select(contact_consents).order_by(contact_consents.c.contact_id,
                                                            contact_consents.c.channel)).all(),
                c.execute(select(func.count()).select_from(consent_ledger)).scalar_one(),
                c.execute(select(contacts).order_by(contacts.c.id)).all())


def test_a_reimport_keeps_a_withdrawal_made_after_the_first_import(app: Application, clock: VirtualClock,
                                                                    tmp_path: Path) -> None:
    path = _file(tmp_path)
    first = import_file(app.services, path, "contacts", "crm")
    assert (first.created, first.rejected) == (2, 0)
    assert _contact(app, "lin@example.com").consents["email"].status == "granted"
    clock.advance(timedelta(days=3))
    report = record_events(app.services, "website", [RawItem({"type": "unsubscribe", "email": "lin@example.com",
                                                              "properties": {"channel": "email"}})])
    assert report.accepted == 1
    withdrawn = _contact(app, "lin@example.com").consents["email"]
    assert (withdrawn.status, withdrawn.source, withdrawn.at) == ("denied", "website", clock.now())
    before = _stored(app)
    clock.advance(timedelta(days=3))
    again = import_file(app.services, path, "contacts", "crm")
    assert (again.created, again.updated, again.merged, again.rejected) == (0, 0, 0, 0)
    lin = _contact(app, "lin@example.com")
    assert lin.consents["email"] == withdrawn  # before: granted again, at the second import's time
    assert lin.consents["sms"].status == "granted"
    assert _stored(app) == before  # no consent, history row or contact row moved


def test_a_reimport_of_unchanged_consent_writes_no_history(app: Application, clock: VirtualClock,
                                                           tmp_path: Path) -> None:
    path = _file(tmp_path)
    import_file(app.services, path, "contacts", "crm")
    before = _stored(app)
    assert before[1] == 4  # two people, two channels: one statement each
    for _ in range(2):
        clock.advance(timedelta(hours=5))
        again = import_file(app.services, path, "contacts", "crm")
        assert (again.created, again.updated, again.merged) == (0, 0, 0)
        assert _stored(app) == before  # before: each import a new "granted"/"denied" per channel in the ledger


def test_another_file_is_still_a_newer_statement(app: Application, clock: VirtualClock, tmp_path: Path) -> None:
    """Only the same file's rows are re-offers: a later export that says otherwise is compared by time, as any
    other observation (ADR 0003: the later statement wins)."""
    import_file(app.services, _file(tmp_path), "contacts", "crm")
    clock.advance(timedelta(days=1))
    later = tmp_path / "later.csv"
    with later.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([["邮箱", "短信订阅"], ["zhou@example.com", "是"]])
    report = import_file(app.services, later, "contacts", "crm")
    assert report.updated == 1
    assert _contact(app, "zhou@example.com").consents["sms"].status == "granted"
