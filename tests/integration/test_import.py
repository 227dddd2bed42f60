"""File import end to end, on SQLite and PostgreSQL: storage, rejects, idempotence, the CLI."""

from __future__ import annotations

import csv
import itertools
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from touchflow.bootstrap import Application, bootstrap
from touchflow.cli import app as cli
from touchflow.clock import VirtualClock
from touchflow.config import Settings
from touchflow.domain.contacts import ContactState
from touchflow.domain.identities import Identity
from touchflow.engine import ImportReport, MappingError, ReadError, import_file

GBK_ROWS = [
    ["姓名", "手机号码", "邮箱", "公司名称", "年龄", "性别", "会员等级", "邮件订阅"],
    ["张三", "138 0013 8000", "ZhangSan@Example.com", "上海测试有限公司", "35", "男", "金卡", "是"],
    ["李四", "12345", "not-an-email", "", "", "", "", ""],  # no usable identifier: rejected
    ["王五", "13900139000", "", "北京示例科技", "abc", "女", "银卡", ""],  # bad age: stored, with a warning
    ["", "", "", "", "", "", "", ""],  # blank: skipped
    ["赵六", "", "", "某公司", "40", "", "", ""],  # nothing to identify: rejected
]


def _write_csv(path: Path, rows: Sequence[Sequence[object]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _contact(app: Application, kind: str, value: str) -> ContactState | None:
    with app.services.reader() as uow:
        found = uow.contacts.lookup([Identity(kind, value)])
        if not found:
            return None
        contact_id = next(iter(found.values()))
        return uow.contacts.load([contact_id])[contact_id]


def _counts(report: ImportReport) -> tuple[int, int, int, int, int, int]:
    return report.read, report.created, report.updated, report.merged, report.rejected, report.warnings


def test_gbk_csv_with_chinese_headers(app: Application, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "crm.csv", GBK_ROWS, encoding="gbk")
    report = import_file(app.services, path, "contacts", "crm", batch_size=2)
    assert _counts(report) == (4, 2, 0, 0, 2, 1)  # the blank row is not counted
    zhang = _contact(app, "phone", "+8613800138000")
    assert zhang is not None
    assert zhang.values["name"] == "张三"
    assert zhang.values["company"] == "上海测试有限公司"
    assert zhang.values["age"] == 35
    assert zhang.values["gender"] == "male"
    assert zhang.values["custom.会员等级"] == "金卡"
    assert zhang.consents["email"].status == "granted"
    assert _contact(app, "email", "zhangsan@example.com") == zhang
    assert report.field_filled["phone"] == 3
    assert report.field_filled["custom.会员等级"] == 2


def test_rejects_go_to_a_file_and_a_bad_field_only_warns(app: Application, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "crm.csv", GBK_ROWS, encoding="gbk")
    report = import_file(app.services, path, "contacts", "crm")
    assert report.rejects_file == tmp_path / "crm.rejects.csv"
    raw = report.rejects_file.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens it as UTF-8
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0] == ["row_number", "reason", *GBK_ROWS[0]]
    assert [r[0] for r in rows[1:]] == ["3", "6"]
    assert "no usable identifier" in rows[1][1] and "phone" in rows[1][1]
    assert rows[1][2:] == GBK_ROWS[2]
    assert rows[2][2:] == GBK_ROWS[5]
    assert sum(report.reject_reasons.values()) == 2
    assert all("'12345'" not in reason for reason in report.reject_reasons)  # shortened, no row values
    wang = _contact(app, "phone", "+8613900139000")
    assert wang is not None and "age" not in wang.values and wang.values["name"] == "王五"
    assert report.warnings == 1 and list(report.warning_reasons) == ["age: not a number"]
    with app.services.reader() as uow:
        assert sum(uow.rejects.summary().values()) == 2


def test_reimport_changes_nothing(app: Application, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "crm.csv", [
        ["name", "phone", "email", "crm id", "city"],
        ["A", "13800138000", "a@example.com", "", "上海"],
        ["A2", "", "a@example.com", "C1", ""],  # same person as the first row
        ["B", "13900139000", "", "C1", "北京"],  # C1 links B to A: a merge
        ["C", "13700137000", "", "", ""],
    ])
    first = import_file(app.services, path, "contacts", "crm", batch_size=2)
    assert first.created >= 2 and first.rejected == 0 and first.rejects_file is None
    second = import_file(app.services, path, "contacts", "crm", batch_size=2)
    assert (second.created, second.updated, second.merged, second.rejected) == (0, 0, 0, 0)
    assert second.read == first.read == 4
    assert not (tmp_path / "crm.rejects.csv").exists()


def test_xlsx_import(app: Application, tmp_path: Path) -> None:
    path = tmp_path / "expo.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["联系人", "手机", "公司", "城市", "展会"])
    book.active.append(["孙七", 13600136000, "展会公司", "深圳", "2026 工业展"])
    book.active.append(["no id", None, "x", None, None])
    book.save(path)
    report = import_file(app.services, path, "contacts", "offline")
    assert (report.read, report.created, report.rejected) == (2, 1, 1)
    sun = _contact(app, "phone", "+8613600136000")
    assert sun is not None and sun.values["custom.展会"] == "2026 工业展" and sun.values["city"] == "深圳"
    assert report.rejects_file is not None
    rejected = list(csv.reader(report.rejects_file.read_text(encoding="utf-8-sig").splitlines()))
    assert rejected[1][:3] == ["3", rejected[1][1], "no id"]


def _events_file(path: Path) -> Path:
    lines: list[object] = [
        {"type": "page_view", "email": "a@example.com", "occurred_at": "2026-02-01T10:00:00+08:00",
         "properties": {"url": "https://example.com/pricing"}},
        {"event": "order_paid", "phone": "13800138000", "timestamp": "2026-02-02 11:00:00",
         "order_id": "O-1", "amount": "199.5"},
        {"type": "page_view", "email": "a@example.com", "occurred_at": "2026-02-01T10:00:00+08:00",
         "properties": {"url": "https://example.com/pricing"}},  # the same event again
        {"id": "e-42", "type": "signup", "anon": "v-1", "occurred_at": "2026-02-03T00:00:00Z"},
        {"id": "e-42", "type": "signup", "anon": "v-1", "occurred_at": "2026-02-03T00:00:00Z"},
        {"type": "order_paid", "phone": "13800138000"},  # required properties missing
        "not an object",
    ]
    text = "\n".join(orjson.dumps(line).decode() for line in lines) + "\n{broken\n"
    path.write_text(text, encoding="utf-8")
    return path


def test_events_from_json_lines_are_stored_once(app: Application, tmp_path: Path) -> None:
    path = _events_file(tmp_path / "events.jsonl")
    report = import_file(app.services, path, "events", "website", batch_size=3)
    assert report.read == 8
    assert report.created == 3
    assert report.duplicates == 2
    assert report.contacts_created == 3
    assert report.rejected == 3
    with app.services.reader() as uow:
        assert uow.events.count() == 3
        contact_id = next(iter(uow.contacts.lookup([Identity("phone", "+8613800138000")]).values()))
        [order] = uow.events.recent(contact_id, 10)
    assert order.type == "order_paid"
    assert order.properties == {"order_id": "O-1", "amount": 199.5}
    assert order.occurred_at == datetime(2026, 2, 2, 3, 0, tzinfo=UTC)
    assert report.rejects_file is not None
    rows = list(csv.reader(report.rejects_file.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == ["row_number", "reason", "original"]
    assert [r[0] for r in rows[1:]] == ["6", "7", "8"]
    assert "properties.order_id" in rows[1][1] and orjson.loads(rows[1][2])["type"] == "order_paid"
    assert rows[3][2] == "{broken"
    again = import_file(app.services, path, "events", "website")
    assert (again.created, again.duplicates, again.rejected) == (0, 5, 3)
    with app.services.reader() as uow:
        assert uow.events.count() == 3


def test_events_from_csv_with_chinese_headers(app: Application, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "offline.csv", [
        ["事件", "时间", "手机", "活动名称", "event_name"],
        ["offline_event_attended", "2026年2月3日 14:00", "13800138000", "沙龙", "上海沙龙"],
    ], encoding="gbk")
    report = import_file(app.services, path, "events", "offline")
    assert (report.created, report.rejected) == (1, 0)
    with app.services.reader() as uow:
        contact_id = next(iter(uow.contacts.lookup([Identity("phone", "+8613800138000")]).values()))
        [event] = uow.events.recent(contact_id, 10)
    assert event.properties == {"活动名称": "沙龙", "event_name": "上海沙龙"}


def test_bad_mapping_and_bad_file_raise_before_storing(app: Application, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "c.csv", [["姓名", "手机"], ["A", "13800138000"]])
    with pytest.raises(MappingError, match="'电话'"):
        import_file(app.services, path, "contacts", "crm", mapping={"phone": "电话"})
    with pytest.raises(ReadError):
        import_file(app.services, tmp_path / "missing.csv", "contacts", "crm")
    with app.services.reader() as uow:
        assert uow.contacts.count() == 0


def test_mapping_is_applied(app: Application, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "c.csv", [["客户", "号码", "级别"], ["A", "13800138000", "VIP"]])
    report = import_file(app.services, path, "contacts", "crm",
                         mapping={"name": "客户", "phone": "号码", "custom.vip_level": "级别"})
    assert report.created == 1
    contact = _contact(app, "phone", "+8613800138000")
    assert contact is not None and contact.values["name"] == "A" and contact.values["custom.vip_level"] == "VIP"


@pytest.fixture
def runner_env(app: Application) -> dict[str, str]:
    return {"TOUCHFLOW_DATABASE_URL": app.settings.database_url}


def test_cli_json_output(runner_env: dict[str, str], tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "crm.csv", GBK_ROWS, encoding="gbk")
    result = CliRunner().invoke(cli, ["import", "contacts", str(path), "--source", "crm", "--json"],
                                env=runner_env)
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert set(data) == {"read", "created", "updated", "merged", "rejected", "warnings", "rejects_file",
                         "warnings_file", "warning_reasons"}
    assert (data["read"], data["created"], data["rejected"], data["warnings"]) == (4, 2, 2, 1)
    assert data["rejects_file"] == str(tmp_path / "crm.rejects.csv")
    assert data["warnings_file"] == str(tmp_path / "crm.warnings.csv")
    assert data["warning_reasons"] == {"age: not a number": 1}

    events = _events_file(tmp_path / "events.jsonl")
    result = CliRunner().invoke(cli, ["import", "events", str(events), "--source", "web", "--json"],
                                env=runner_env)
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert set(data) == {"read", "created", "updated", "merged", "rejected", "warnings", "rejects_file",
                         "duplicates", "contacts_created"}
    assert (data["created"], data["duplicates"], data["updated"], data["warnings"]) == (3, 2, 0, 0)


def test_cli_summary_without_json(runner_env: dict[str, str], tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "crm.csv", GBK_ROWS, encoding="gbk")
    result = CliRunner().invoke(cli, ["import", "contacts", str(path), "--source", "crm"], env=runner_env)
    assert result.exit_code == 0, result.output
    assert "contacts created" in result.stdout and "no usable identifier" in result.stdout
    assert f"{tmp_path / 'crm.rejects.csv'}\n" in result.stdout  # on one line however long, to be copied


@pytest.mark.parametrize("args, message", [
    (["--map", "phone=电话"], "'电话' is not in the file's header"),
    (["--map", "colour=手机"], "unknown field 'colour'"),
    (["--map", "phone"], "expected FIELD=COLUMN"),
])
def test_cli_bad_mapping_exits_non_zero(runner_env: dict[str, str], tmp_path: Path, args: list[str],
                                        message: str) -> None:
    path = _write_csv(tmp_path / "c.csv", [["姓名", "手机"], ["A", "13800138000"]])
    result = CliRunner().invoke(cli, ["import", "contacts", str(path), "--source", "crm", "--json", *args],
                                env=runner_env)
    assert result.exit_code != 0
    assert message in " ".join(result.stderr.split())  # Rich wraps long lines
    assert "Traceback" not in result.output and result.stdout == ""


def test_cli_bad_files_exit_non_zero(runner_env: dict[str, str], tmp_path: Path) -> None:
    old_excel = tmp_path / "old.xls"
    old_excel.write_bytes(b"\xd0\xcf\x11\xe0")
    for target, message in ((tmp_path / "missing.csv", "file not found"), (old_excel, ".xls")):
        result = CliRunner().invoke(cli, ["import", "contacts", str(target), "--source", "crm"], env=runner_env)
        assert result.exit_code != 0
        assert message in result.stderr and "Traceback" not in result.output


# --- file order, and re-imports that change nothing ------------------------------------------------
# Rows of one file that disagree at the same instant (no updated_at of their own): the later row in the file
# wins (ADR 0013), whatever the batch boundaries. Rows with their own time are ordered by it, the value breaking
# a tie, so they give the same contacts in any order. Importing the same file again changes nothing at all.

PERMUTED_ROWS: list[list[str]] = [
    ["A", "13800138000", "a@example.com", "", "甲公司", "30", ""],
    ["A 2", "", "a@example.com", "C1", "乙公司", "", "2026-01-05"],
    ["B", "13900139000", "", "C1", "", "", "2026-01-03"],
    ["D", "13700137000", "d@example.com", "", "丁公司", "abc", ""],
    ["D", "", "d@example.com", "", "戊公司", "41", ""],  # disagrees with the row above: file order decides
    ["E", "13600136000", "", "C2", "", "", ""],
    ["E 2", "13600136000", "", "", "己公司", "", ""],  # disagrees on the name: file order decides
    ["F", "13500135000", "", "", "庚公司", "", "2026-01-02"],
    ["F 2", "13500135000", "", "", "辛公司", "", "2026-01-02"],  # the same instant, both dated: the value decides
    ["no id", "", "", "", "x", "", ""],
]
PERMUTED_HEADER = ["name", "phone", "email", "crm_id", "company", "age", "updated_at"]
Snapshot = list[tuple[tuple[str, ...], tuple[tuple[str, str], ...]]]


def _snapshot(app: Application) -> Snapshot:
    with app.services.reader() as uow:
        ids = uow.contacts.search(None, None, 1000, 0)
        states = uow.contacts.load(ids)
        return sorted((tuple(sorted(str(link.identity) for link in uow.contacts.identities_of(i))),
                       tuple(sorted((k, str(v)) for k, v in states[i].values.items()))) for i in ids)


def _expected(rows: Sequence[list[str]]) -> Snapshot:
    """What the policy says for this order: the later D and E rows win their conflicts, the rest never varies."""
    last_d = [r for r in rows if r[0] == "D"][-1]
    last_e = [r for r in rows if r[0].startswith("E")][-1]
    return sorted([
        (("crm:C1", "email:a@example.com", "phone:+8613800138000", "phone:+8613900139000"),
         (("age", "30"), ("company", "甲公司"), ("name", "A"))),  # undated A is newer than dated A 2 and B
        (("email:d@example.com", "phone:+8613700137000"), (("age", "41"), ("company", last_d[4]), ("name", "D"))),
        (("crm:C2", "phone:+8613600136000"), (("company", "己公司"), ("name", last_e[0]))),
        (("phone:+8613500135000",), (("company", "辛公司"), ("name", "F 2"))),
    ])


def _stored(app: Application) -> tuple[object, ...]:
    """Everything a re-import could move: rows with their timestamps and lineage, rejects, source counters."""
    from sqlalchemy import func, select

    from touchflow.store.tables import contact_identities, contacts, rejects, sources

    with app.engine.connect() as c:
        return (c.execute(select(contacts).order_by(contacts.c.id)).all(),
                c.execute(select(contact_identities).order_by(contact_identities.c.kind,
                                                              contact_identities.c.value)).all(),
                c.execute(select(func.count()).select_from(rejects)).scalar_one(),
                c.execute(select(sources.c.received, sources.c.accepted, sources.c.rejected)
                          .where(sources.c.name == "crm")).one())


@pytest.fixture(scope="module")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "touchflow.db"
    application = bootstrap(Settings(f"sqlite:///{path.as_posix()}"))
    application.init_database()
    application.close()
    return path


_counter = itertools.count()


def _fresh_app(template: Path, tmp_dir: Path) -> tuple[Application, VirtualClock]:
    path = tmp_dir / f"copy-{next(_counter)}.db"
    shutil.copyfile(template, path)
    clock = VirtualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    return bootstrap(Settings(f"sqlite:///{path.as_posix()}"), clock=clock), clock


def _rows_file(rows: Sequence[list[str]], tmp_dir: Path) -> Path:
    return _write_csv(tmp_dir / f"rows-{next(_counter)}.csv", [PERMUTED_HEADER, *rows])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.permutations(PERMUTED_ROWS), batch_size=st.integers(min_value=1, max_value=8),
       again_batch_size=st.integers(min_value=1, max_value=8))
def test_file_order_decides_and_a_reimport_changes_nothing(
        rows: list[list[str]], batch_size: int, again_batch_size: int, template_db: Path, tmp_path: Path) -> None:
    application, clock = _fresh_app(template_db, tmp_path)
    try:
        path = _rows_file(rows, tmp_path)
        first = import_file(application.services, path, "contacts", "crm", batch_size=batch_size)
        assert first.rejected == 1
        assert _snapshot(application) == _expected(rows)
        before = _stored(application)
        received, accepted, rejected = before[3]  # type: ignore[misc]
        # a row that brings nothing new (a dated row older than what is stored) is not counted as received
        assert (before[2], rejected, received) == (1, 1, accepted + 1) and 4 <= accepted <= 9
        clock.advance(timedelta(days=1))  # a later ingest time: undated rows are "newer" than what they set
        again = import_file(application.services, path, "contacts", "crm", batch_size=again_batch_size)
        assert (again.created, again.updated, again.merged, again.rejected) == (0, 0, 0, 1)
        assert _stored(application) == before  # no value, timestamp, lineage, reject or counter moved
    finally:
        application.close()


def test_reimport_of_conflicting_rows_reports_no_update(app: Application, clock: VirtualClock,
                                                         tmp_path: Path) -> None:
    """The reported bug: two rows for one contact disagreeing on a field; each re-import said ``updated: 1``."""
    path = _write_csv(tmp_path / "crm.csv", [["email", "company", "industry"],
                                             ["z@example.com", "Zeta", "养殖"],
                                             ["z@example.com", "Alpha", "制造"]])
    first = import_file(app.services, path, "contacts", "crm")
    assert (first.created, first.updated) == (1, 0)
    zed = _contact(app, "email", "z@example.com")
    assert zed is not None and zed.values["company"] == "Alpha" and zed.values["industry"] == "制造业"
    for _ in range(2):
        clock.advance(timedelta(hours=1))
        again = import_file(app.services, path, "contacts", "crm")
        assert (again.created, again.updated, again.merged) == (0, 0, 0)
        assert _contact(app, "email", "z@example.com") == zed


def test_an_unknown_industry_is_a_warning(app: Application, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "crm.csv", [["email", "industry"], ["y@example.com", "养殖"],
                                             ["x@example.com", "互联网"]])
    report = import_file(app.services, path, "contacts", "crm")
    assert (report.created, report.warnings, report.rejected) == (2, 1, 0)
    assert report.warning_reasons == {"industry: not a standard industry": 1}
    assert report.rejects_file is None and report.warnings_file == tmp_path / "crm.warnings.csv"
    rows = list(csv.reader(report.warnings_file.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == ["row_number", "reason", "email", "industry"]
    assert rows[1][:2] == ["2", rows[1][1]] and rows[1][2:] == ["y@example.com", "养殖"]
    assert rows[1][1].startswith("industry: not a standard industry: '养殖'") and len(rows) == 2
    y = _contact(app, "email", "y@example.com")
    assert y is not None and "industry" not in y.values  # not stored as if it were a standard industry
    x = _contact(app, "email", "x@example.com")
    assert x is not None and x.values["industry"] == "信息技术"
