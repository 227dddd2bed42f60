"""Lists a person reads (issue 11, item 13): a name and a masked phone/email next to an id that is never cut,
``--json`` and ``--csv`` (formula cells neutralised), times with their zone, and a freeze in ``contact show``.

The console is 80 columns wide under CliRunner, as in a default terminal."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.services.guarding import freeze_contact
from touchflow.services.ingest import RawItem, upsert_contacts

PEOPLE = [("张伟", "+8613812341234", "zhangwei@example.cn", "华为技术"),
          ("张 伟", "+8613912345678", "zw.work@example.cn", "华为技术有限公司"),
          ("=HYPERLINK(\"http://evil.test\",\"点我\")", "+8613700001111", "li@example.cn", "阿里")]


def run(app: Application, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"TOUCHFLOW_DATABASE_URL": app.settings.database_url})
    return result.exit_code, result.output


@pytest.fixture
def ids(app: Application) -> list[str]:
    report = upsert_contacts(app.services, "crm", [RawItem({"name": n, "phone": p, "email": e, "company": c,
                                                            "city": "上海"}) for n, p, e, c in PEOPLE])
    found = [c for c in report.contact_ids if c is not None]
    assert len(found) == 3  # ids of one batch share a long time prefix: a cut id would be useless
    return found


def _check_table(out: str, ids: list[str]) -> None:
    for contact_id in ids:
        assert contact_id in out, out  # whole, on one line: copyable
    assert "138****1234" in out and "z***@example.cn" in out and "张伟" in out
    assert "13812341234" not in out and "zhangwei@" not in out  # masked


def test_segment_members_and_preview_show_names_masked_addresses_and_whole_ids(app: Application, ids: list[str],
                                                                               tmp_path: Path) -> None:
    definition = tmp_path / "sh.yaml"
    definition.write_text("key: sh\nname: 上海\ncondition: {attr: city, eq: 上海}\n", encoding="utf-8")
    code, out = run(app, "segment", "preview", str(definition))
    assert code == 0, out
    _check_table(out, ids)
    assert run(app, "segment", "create", str(definition))[0] == 0
    code, out = run(app, "segment", "members", "sh")
    assert code == 0, out
    _check_table(out, ids)
    assert "+08:00" in out and "Asia/Shanghai" in out  # member since, with its zone

    code, out = run(app, "segment", "members", "sh", "--json")
    members = orjson.loads(out)
    assert {m["contact_id"] for m in members} == set(ids)
    assert {m["phone"] for m in members} == {"138****1234", "139****5678", "137****1111"}

    code, out = run(app, "segment", "members", "sh", "--csv")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["contact_id"] for r in rows] == sorted(ids)
    evil = next(r for r in rows if r["phone"] == "137****1111")
    assert evil["name"].startswith("'=HYPERLINK")  # a formula cell is text in a spreadsheet
    assert all(r["since"].endswith("+08:00") for r in rows)
    code, out = run(app, "segment", "preview", str(definition), "--csv")
    assert code == 0 and len(list(csv.DictReader(io.StringIO(out)))) == 3


def test_contact_search_and_duplicates_show_who_with_whole_ids(app: Application, ids: list[str]) -> None:
    code, out = run(app, "contact", "search", "张")
    assert code == 0, out
    for contact_id in ids[:2]:
        assert contact_id in out
    assert "138****1234" in out and "13812341234" not in out
    code, out = run(app, "contact", "search", "张", "--csv")
    assert code == 0 and {r["contact_id"] for r in csv.DictReader(io.StringIO(out))} == set(ids[:2])

    code, out = run(app, "contact", "duplicates", "--threshold", "60")
    assert code == 0, out
    assert ids[0] in out and ids[1] in out and "138****1234" in out and "139****5678" in out
    code, out = run(app, "contact", "duplicates", "--threshold", "60", "--json")
    [pair] = orjson.loads(out)
    assert {pair["first"], pair["second"]} == set(ids[:2])
    assert (pair["first_name"], pair["second_name"]) == ("张伟", "张伟")  # names are stored normalised
    code, out = run(app, "contact", "duplicates", "--threshold", "60", "--csv")
    assert code == 0 and len(list(csv.DictReader(io.StringIO(out)))) == 1


def test_contact_show_says_it_is_frozen_and_why(app: Application, ids: list[str]) -> None:
    freeze_contact(app.services, ids[0], "电话投诉：短信骚扰", actor="test")
    code, out = run(app, "contact", "show", ids[0])
    assert code == 0, out
    assert "FROZEN" in out and "电话投诉：短信骚扰" in out and "+08:00" in out
    code, out = run(app, "contact", "show", ids[0], "--json")
    frozen = orjson.loads(out)["frozen"]
    assert frozen["reason"] == "电话投诉：短信骚扰" and frozen["task_id"]
    code, out = run(app, "contact", "show", ids[1])
    assert "FROZEN" not in out


def test_every_list_command_has_json_and_csv(app: Application, ids: list[str], tmp_path: Path) -> None:
    freeze_contact(app.services, ids[2], "投诉", actor="test")  # a service task exists
    definition = tmp_path / "sh.yaml"
    definition.write_text("key: sh\nname: 上海\ncondition: {attr: city, eq: 上海}\n", encoding="utf-8")
    assert run(app, "segment", "create", str(definition))[0] == 0
    assert run(app, "suppression", "add", "sms", "13800138000")[0] == 0
    commands = [["contact", "search"], ["contact", "duplicates"], ["segment", "list"], ["segment", "members", "sh"],
                ["segment", "preview", str(definition)], ["segment", "history", ids[0]], ["journey", "list"],
                ["suppression", "list"], ["task", "list"], ["task", "timeliness"], ["channel", "list"],
                ["apikey", "list"], ["source", "list"], ["persona", "list"], ["lifecycle", "history", ids[0]],
                ["template", "list"], ["template", "review", "list"], ["asset", "list"]]
    for argv in commands:
        code, out = run(app, *argv, "--csv")
        assert code == 0, (argv, out)
        header = next(csv.reader(io.StringIO(out)))
        assert header and all(h and " " not in h for h in header), (argv, header)
        code, out = run(app, *argv, "--json")
        assert code == 0, (argv, out)
        orjson.loads(out)
        assert run(app, *argv, "--json", "--csv")[0] == 2, argv
    code, out = run(app, "task", "list", "--csv")
    [task] = list(csv.DictReader(io.StringIO(out)))
    assert task["contact_id"] == ids[2] and task["contact_phone"] == "137****1111"
    assert task["contact_name"].startswith("'=")  # neutralised
    assert task["due_at"].endswith("+08:00")
