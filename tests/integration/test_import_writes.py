"""What a re-import writes, and merges made several at a time by one batch, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.contacts import ContactState
from touchflow.domain.identities import Identity
from touchflow.engine import import_file
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.unmerge import unmerge_contact

# With its own update time a row restates the same consent on every import (without one, the consent is
# stated at the time of the first import and the row remembered: the same file again restates nothing, ADR 0060).
ROWS = [
    ["客户编号", "姓名", "手机号", "公司", "行业", "职位", "省份", "邮件订阅", "标签", "更新时间"],
    ["KH1", "张三", "13800138000", "上海测试有限公司", "制造业", "总经理", "上海", "是", "vip", "2026-01-05 09:00"],
    ["KH2", "李四", "13900139000", "北京示例科技", "金融", "工程师", "北京", "否", "", "2026-01-05 09:00"],
]


def _write(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


@contextmanager
def _statements(app: Application) -> Iterator[list[str]]:
    """The SQL the application sends while the block runs (the real engine, listened to)."""
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()).lower().replace('"', ""))

    event.listen(app.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(app.engine, "before_cursor_execute", listen)


def _state(app: Application, kind: str, value: str) -> ContactState:
    with app.services.reader() as uow:
        contact_id = uow.contacts.lookup([Identity(kind, value)])[Identity(kind, value)]
        return uow.contacts.load([contact_id])[contact_id]


def _writes(statements: list[str], table: str) -> list[str]:
    return [s for s in statements if s.startswith((f"insert into {table} ", f"delete from {table} ",
                                                   f"update {table} "))]


def test_reimporting_unchanged_rows_writes_no_contact_lineage_tag_or_consent(app: Application, tmp_path: Path,
                                                                            clock: VirtualClock) -> None:
    path = _write(tmp_path / "crm.csv", ROWS)
    import_file(app.services, path, "contacts", "crm")
    before = _state(app, "crm", "KH1")
    clock.advance(timedelta(hours=1))
    with _statements(app) as seen:
        report = import_file(app.services, path, "contacts", "crm")
    assert (report.created, report.updated) == (0, 0)
    for table in ("contacts", "contact_identities", "contact_tags", "contact_consents", "consent_ledger"):
        assert _writes(seen, table) == [], table
    assert _state(app, "crm", "KH1") == before  # values, lineage, tags and consents as they were


def test_a_changed_attribute_rewrites_the_row_but_not_unchanged_tags_or_consents(
        app: Application, tmp_path: Path, clock: VirtualClock) -> None:
    import_file(app.services, _write(tmp_path / "crm.csv", ROWS), "contacts", "crm")
    before = _state(app, "crm", "KH1")
    assert before.tags == {"vip": "crm", "manufacturing": "rule:industry-manufacturing",
                           "decision_maker": "rule:title-decision-maker", "east_china": "rule:region-east"}
    clock.advance(timedelta(hours=1))
    # A later row with a new company and no consent column filled: the consent and the tags stay as they are.
    changed = [ROWS[0], [*ROWS[1][:3], "上海测试集团", *ROWS[1][4:7], "", "vip", "2026-02-01 09:00"], ROWS[2]]
    with _statements(app) as seen:
        report = import_file(app.services, _write(tmp_path / "crm2.csv", changed), "contacts", "crm")
    assert (report.created, report.updated) == (0, 1)
    assert len(_writes(seen, "contacts")) == 1  # one executemany: the changed contact's row
    for table in ("contact_tags", "contact_consents", "consent_ledger"):
        assert _writes(seen, table) == [], table
    after = _state(app, "crm", "KH1")
    assert after.values["company"] == "上海测试集团"
    assert after.lineage["company"].at > before.lineage["company"].at  # the new value's lineage
    assert {k: v for k, v in after.lineage.items() if k != "company"} == {
        k: v for k, v in before.lineage.items() if k != "company"}  # the others keep theirs
    assert (after.tags, after.consents) == (before.tags, before.consents)


def test_a_changed_rule_field_rewrites_the_tags(app: Application, tmp_path: Path, clock: VirtualClock) -> None:
    import_file(app.services, _write(tmp_path / "crm.csv", ROWS), "contacts", "crm")
    clock.advance(timedelta(hours=1))
    later = "2026-02-01 09:00"
    moved = [ROWS[0], [*ROWS[1][:6], "浙江", *ROWS[1][7:9], later], [*ROWS[2][:4], "医疗", *ROWS[2][5:9], later]]
    import_file(app.services, _write(tmp_path / "crm2.csv", moved), "contacts", "crm")
    assert "east_china" in _state(app, "crm", "KH1").tags  # 浙江 is east China too: the rule's tag stays
    assert _state(app, "crm", "KH2").tags == {"healthcare": "rule:industry-healthcare"}  # 医疗 → 医疗健康


def test_one_batch_merging_several_pairs_keeps_each_undo(app: Application) -> None:
    ctx = app.services
    people = [(f"p{n}@example.cn", f"+861380013800{n}") for n in range(3)]
    upsert_contacts(ctx, "crm", [RawItem({"email": email, "tags": f"t{n}", "consent.email": "是"})
                                 for n, (email, _) in enumerate(people)])
    upsert_contacts(ctx, "shop", [RawItem({"phone": phone, "city": "上海"}) for _, phone in people])
    winners = [_state(app, "email", email).id for email, _ in people]
    losers = [_state(app, "phone", phone).id for _, phone in people]
    report = record_events(ctx, "website", [RawItem({"type": "signup", "email": email, "phone": phone})
                                            for email, phone in people], route=False)
    assert report.merged == 3
    for n, (email, phone) in enumerate(people):
        merged = _state(app, "phone", phone)
        assert merged == _state(app, "email", email)
        assert merged.values["city"] == "上海" and merged.tags == {f"t{n}": "crm"}
        with ctx.reader() as uow:
            assert uow.contacts.resolve_id(losers[n]) == merged.id
    result = unmerge_contact(ctx, losers[1], actor="admin", reason="two people")
    assert (result.survivor, result.restored, result.identities) == (winners[1], losers[1], 1)
    assert _state(app, "phone", people[1][1]).id == losers[1]
    assert _state(app, "phone", people[0][1]).id == winners[0]  # the other merges stand
