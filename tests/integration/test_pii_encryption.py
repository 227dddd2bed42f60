"""Personal data encrypted at rest (ADR 0026), on SQLite and PostgreSQL: what the raw rows hold, that
ciphertexts are bound to their row and column, that matching still works through the blind index, and that
key rotation runs online, resumably, beside imports."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.conditions.predicates import AttrCompare, EvalContext
from touchflow.security.pii import PiiError
from touchflow.services.contacts import (
    find_contact_id,
    get_contact_profile,
    search_contacts,
    suggest_duplicates,
)
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.segments import create_segment, preview_segment, refresh_segment, segment_members
from touchflow.store.tables import contact_identities, contacts


def items(*payloads: dict[str, object]) -> list[RawItem]:
    return [RawItem(p) for p in payloads]


def enable(app: Application, **kw: Any) -> Any:
    return app.pii_keys.rotate(app.services.clock.now, actor="test", **kw)


def raw(app: Application, sql: str) -> list[Any]:
    with app.engine.connect() as c:
        return list(c.execute(text(sql)).all())


def people(n: int, start: int = 0) -> list[RawItem]:
    return items(*({"email": f"p{i}@x.cn", "phone": f"139{i:08d}", "name": f"客户{i}", "city": "上海"}
                   for i in range(start, start + n)))


@pytest.fixture
def encrypted(app: Application) -> Iterator[Application]:
    enable(app)
    yield app


def test_the_raw_rows_hold_no_plaintext(encrypted: Application) -> None:
    ctx = encrypted.services
    upsert_contacts(ctx, "crm", items({"email": "Li.Lei@Example.cn", "phone": "13800138000", "name": "李雷",
                                       "city": "上海"}))
    dump = " ".join(str(r) for r in raw(encrypted, "SELECT * FROM contact_identities"))
    dump += " ".join(str(r) for r in raw(encrypted, "SELECT * FROM contacts"))
    for secret in ("li.lei@example.cn", "8613800138000", "李雷", "李雷".encode().hex()):
        assert secret not in dump
    assert raw(encrypted, "SELECT name FROM contacts") == [(None,)]
    assert [r[0] for r in raw(encrypted, "SELECT count(*) FROM contact_identities WHERE value_ct IS NULL")] == [0]
    profile = get_contact_profile(ctx, "email:li.lei@example.cn")
    assert profile.state.values["name"] == "李雷" and profile.state.values["city"] == "上海"
    assert {str(i.identity) for i in profile.identities} == {"email:li.lei@example.cn", "phone:+8613800138000"}


def test_a_ciphertext_moved_to_another_row_or_column_does_not_open(encrypted: Application) -> None:
    ctx = encrypted.services
    upsert_contacts(ctx, "crm", items({"email": "a@x.cn", "name": "甲"}, {"email": "b@x.cn", "name": "乙"}))
    a, b = find_contact_id(ctx, "email:a@x.cn"), find_contact_id(ctx, "email:b@x.cn")
    t, c = contact_identities.c, contacts.c
    with encrypted.engine.begin() as conn:
        sealed = dict(conn.execute(select(c.id, c.name_ct)).all())
        conn.execute(update(contacts).where(c.id == a).values(name_ct=sealed[b]))
    with pytest.raises(PiiError, match=r"contacts\.name of .* does not open"):
        get_contact_profile(ctx, a)
    with encrypted.engine.begin() as conn:
        conn.execute(update(contacts).where(c.id == a).values(name_ct=sealed[a]))
        identity_ct = conn.execute(select(t.value_ct).where(t.contact_id == b)).scalar_one()
        conn.execute(update(contacts).where(c.id == a).values(name_ct=identity_ct))  # another column
    with pytest.raises(PiiError, match="copied from another row or column"):
        get_contact_profile(ctx, a)
    with encrypted.engine.begin() as conn:
        conn.execute(update(contacts).where(c.id == a).values(name_ct=sealed[a]))
        conn.execute(update(contact_identities).where(t.contact_id == a).values(value_ct=identity_ct))
    with pytest.raises(PiiError, match=r"contact_identities\.value"):
        get_contact_profile(ctx, a)


def test_matching_searching_merging_and_reimporting_work_on_encrypted_identities(encrypted: Application,
                                                                                 clock: VirtualClock) -> None:
    ctx = encrypted.services
    first = upsert_contacts(ctx, "website", items({"phone": "13800138000", "name": "王芳", "city": "上海",
                                                  "company": "精工"}))
    assert first.created == 1
    again = upsert_contacts(ctx, "website", items({"phone": "+86 138-0013-8000", "name": "王芳"}))
    assert (again.created, again.updated) == (0, 0)  # the same person: matched through the blind index
    clock.advance(timedelta(hours=1))
    upsert_contacts(ctx, "crm", items({"email": "wf@x.cn", "crm_id": "C-1"}))
    bridged = upsert_contacts(ctx, "ecommerce", items({"email": "wf@x.cn", "phone": "13800138000"}))
    assert bridged.merged == 1
    survivor = find_contact_id(ctx, "crm:C-1")
    assert survivor == find_contact_id(ctx, "phone:13800138000") == find_contact_id(ctx, "email:wf@x.cn")
    assert [s.id for s in search_contacts(ctx, "wf@x.cn")] == [survivor]
    assert [s.id for s in search_contacts(ctx, "+8613800138000")] == [survivor]
    assert [s.id for s in search_contacts(ctx, "王")] == [survivor]  # names: decrypted and compared
    assert [s.id for s in search_contacts(ctx, "精工")] == [survivor]
    with ctx.reader() as uow:
        assert uow.guards.addresses([survivor])[survivor] == {"phone": "+8613800138000", "email": "wf@x.cn",
                                                              "crm": "C-1"}
        assert uow.messages.audience([survivor])[survivor]["attributes"]["name"] == "王芳"  # templates
        assert uow.contacts.completeness(["name", "city"]) == {"name": 1, "city": 1}


def test_fuzzy_duplicates_and_conditions_over_names_read_decrypted_names(encrypted: Application) -> None:
    ctx = encrypted.services
    upsert_contacts(ctx, "crm", items({"email": "a@x.cn", "name": "张伟", "company": "华东精密", "city": "上海"},
                                      {"email": "b@x.cn", "name": "张伟", "company": "华东精密有限公司",
                                       "city": "上海"},
                                      {"email": "c@x.cn", "name": "李娜", "city": "上海"}))
    ids = {find_contact_id(ctx, f"email:{e}@x.cn") for e in "ab"}
    found = suggest_duplicates(ctx, threshold=60)
    assert [{s.first, s.second} for s in found] == [ids]
    condition = AttrCompare("name", "eq", "李娜")
    with ctx.reader() as uow:
        matched = uow.journeys.matching_contacts(condition, EvalContext(now=ctx.clock.now()))
    assert matched == [find_contact_id(ctx, "email:c@x.cn")]


def test_rows_written_before_encryption_stay_readable_and_are_encrypted_by_the_pass(app: Application) -> None:
    ctx = app.services
    upsert_contacts(ctx, "crm", people(5))
    report = enable(app, batch_size=2, max_batches=1)  # keys made, the pass interrupted: mixed rows
    assert not report.finished
    assert upsert_contacts(ctx, "crm", people(6)).created == 1  # p0…p4 found in plaintext, p5 is new
    assert len(search_contacts(ctx, limit=100)) == 6
    assert get_contact_profile(ctx, "email:p1@x.cn").state.values["name"] == "客户1"
    status = app.pii_keys.status()
    assert status["rotating"] and status["plaintext_rows"] > 0
    assert enable(app, resume_only=True).finished
    status = app.pii_keys.status()
    assert status["plaintext_rows"] == 0 and not status["rotating"]
    assert raw(app, "SELECT count(*) FROM contacts WHERE name IS NOT NULL") == [(0,)]
    assert upsert_contacts(ctx, "crm", people(6)).created == 0
    assert get_contact_profile(ctx, "phone:13900000003").state.values["name"] == "客户3"


def test_an_interrupted_rotation_resumes_from_its_cursor_and_retires_the_old_key(encrypted: Application) -> None:
    ctx = encrypted.services
    upsert_contacts(ctx, "crm", people(7))
    first = encrypted.pii_keys.status()["keys"][-1]["id"]
    partial = enable(encrypted, batch_size=3, max_batches=2)
    assert not partial.finished and partial.new_key is not None
    status = encrypted.pii_keys.status()
    assert status["rotating"] and status["cursor"]["table"] == "contact_identities"
    rows = {k["id"]: k["rows"] for k in status["keys"] if k["purpose"] == "field"}
    assert rows[first] > 0 and rows[partial.new_key] > 0  # both keys in use mid-rotation, every row readable
    assert len({s.values["name"] for s in search_contacts(ctx, limit=100)}) == 7
    done = enable(encrypted, resume_only=True, batch_size=3)
    assert done.finished and done.new_key is None and done.retired == (first,)
    keys = {k["id"]: k for k in encrypted.pii_keys.status()["keys"]}
    assert keys[first]["state"] == "retired" and keys[first]["rows"] == 0
    assert keys[partial.new_key]["rows"] == 21  # 7 emails, 7 phones, 7 names
    assert enable(encrypted, resume_only=True).reencrypted == 0  # nothing left: a no-op


def test_rotation_beside_a_concurrent_import_loses_nothing(encrypted: Application) -> None:
    ctx = encrypted.services
    upsert_contacts(ctx, "crm", people(60))
    errors: list[BaseException] = []
    during: list[int] = []  # batches the importer committed while the rotation ran
    imported: list[int] = []
    started, rotating, rotated = threading.Event(), threading.Event(), threading.Event()

    def importing() -> None:
        n = 60
        try:
            while not rotated.is_set() and n < 400:
                upsert_contacts(ctx, "crm", people(5, n))
                upsert_contacts(ctx, "crm", people(3, n - 30))  # re-offers: must match, not duplicate
                if rotating.is_set() and not rotated.is_set():
                    during.append(n)
                n += 5
                started.set()
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            imported.append(n)
            started.set()

    worker = threading.Thread(target=importing)
    worker.start()
    started.wait(30)
    rotating.set()
    first = enable(encrypted, batch_size=7, max_batches=1)  # the rotation starts: a new key, one batch moved
    deadline = time.monotonic() + 60  # the importer commits while the rotation is unfinished (a loaded machine
    while not during and not imported and time.monotonic() < deadline:  # may otherwise finish it first)
        time.sleep(0.01)
    reports = [encrypted.pii_keys.rotate(ctx.clock.now, actor="test", batch_size=7, resume_only=True)]
    rotated.set()
    worker.join()
    reports.append(enable(encrypted, batch_size=50))  # and once more after it, as an operator would
    assert not errors
    assert not first.finished and during, "the import did not run while the rotation did"
    assert all(r.finished for r in reports)
    total = imported[0]
    states = search_contacts(ctx, limit=500)
    assert len(states) == total
    assert sorted(s.values["name"] for s in states) == sorted(f"客户{i}" for i in range(total))
    assert raw(encrypted, "SELECT count(*) FROM contact_identities") == [(2 * total,)]
    status = encrypted.pii_keys.status()
    current = [k for k in status["keys"] if k["purpose"] == "field" and k["state"] == "active"]
    assert len(current) == 1 and current[0]["rows"] == 3 * total and status["plaintext_rows"] == 0
    assert all(k["rows"] == 0 for k in status["keys"] if k["purpose"] == "field" and k["state"] == "retired")
    for i in (0, 61, total - 1):
        assert get_contact_profile(ctx, f"email:p{i}@x.cn").state.values["name"] == f"客户{i}"


def test_a_secret_key_rotation_rewraps_the_data_keys(encrypted: Application) -> None:
    ctx = encrypted.services
    upsert_contacts(ctx, "crm", items({"email": "a@x.cn", "name": "甲"}))
    rotation = encrypted.rotate_secret_key(timedelta(0), actor="test")
    assert {k["kek"] for k in encrypted.pii_keys.status()["keys"]} == {rotation.new_key}
    encrypted.pii_keys.invalidate()
    assert get_contact_profile(ctx, "email:a@x.cn").state.values["name"] == "甲"


def test_without_keys_nothing_changes(app: Application) -> None:
    upsert_contacts(app.services, "crm", items({"email": "a@x.cn", "name": "甲"}))
    assert app.pii_keys.codec() is None and not app.pii_keys.status()["enabled"]
    assert raw(app, "SELECT kind, value, value_ct FROM contact_identities") == [("email", "a@x.cn", None)]
    assert raw(app, "SELECT name, name_ct FROM contacts") == [("甲", None)]


def test_a_segment_over_the_encrypted_name_is_finished_in_python(encrypted: Application) -> None:
    ctx = encrypted.services
    upsert_contacts(ctx, "crm", items({"email": "a@x.cn", "name": "李娜", "city": "上海"},
                                      {"email": "b@x.cn", "name": "王芳", "city": "上海"},
                                      {"email": "c@x.cn", "name": "李娜", "city": "北京"}))
    definition = {"key": "lina_sh", "name": "李娜（上海）", "kind": "dynamic",
                  "condition": {"all": [{"attr": "name", "eq": "李娜"}, {"attr": "city", "eq": "上海"}]}}
    assert preview_segment(ctx, definition).count == 1
    create_segment(ctx, definition, actor="t")
    refresh_segment(ctx, "lina_sh")
    assert [c for c, _ in segment_members(ctx, "lina_sh")] == [find_contact_id(ctx, "email:a@x.cn")]


def test_searching_encrypted_names_pages_like_plaintext(encrypted: Application) -> None:
    ctx = encrypted.services
    upsert_contacts(ctx, "crm", people(7))
    upsert_contacts(ctx, "crm", items({"email": "other@x.cn", "name": "王芳", "company": "客户服务公司"}))
    pages = [[s.id for s in search_contacts(ctx, "客户", limit=3, offset=o)] for o in (0, 3, 6)]
    everyone = sorted(s.id for s in search_contacts(ctx, limit=100))
    assert [len(p) for p in pages] == [3, 3, 2] and [i for p in pages for i in p] == everyone  # 7 names, 1 company
    assert [s.values["name"] for s in search_contacts(ctx, "客户3")] == ["客户3"]
