"""``touchflow persona …``, ``assignment …`` and ``task timeliness`` from the command line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from touchflow.bootstrap import Application, bootstrap
from touchflow.clock import VirtualClock
from touchflow.domain.outbox import TaskRecord
from touchflow.services.ingest import RawItem, upsert_contacts

PERSONA = """
key: owner_led
name: 老板决策型
profile: {basic_attributes: 民营企业老板, interests: 增长, behaviour_habits: 微信沟通,
          pain_points: 时间少, core_needs: 快速见效}
condition: {attr: custom.owner, exists: true}
map:
  - {stage: 决策, emotion: 决策, touchpoints: [销售], behaviours: [purchase], expected_action: 签约}
"""


@pytest.fixture
def env(app: Application, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The commands run in-process on the test database and on the test's virtual clock."""
    monkeypatch.setattr("touchflow.cli.common.bootstrap", lambda: bootstrap(app.settings, clock=clock))
    return {"TOUCHFLOW_DATABASE_URL": app.settings.database_url}


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    from touchflow.cli import app as cli

    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def test_persona_and_assignment_commands(app: Application, env: dict[str, str], tmp_path: Path,
                                         clock: VirtualClock) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "boss@x.cn", "custom.owner": "销售老周"}),
                                          RawItem({"email": "other@x.cn"})])
    source = tmp_path / "persona.yaml"
    source.write_text(PERSONA, encoding="utf-8")
    code, out = run(env, "persona", "create", str(source))
    assert code == 0 and "persona owner_led created" in out, out
    code, out = run(env, "persona", "coverage", "--json")
    assert code == 0, out
    assert orjson.loads(out)["covered"] == 1 and orjson.loads(out)["share"] == 0.5
    code, out = run(env, "persona", "map", "owner_led", "--format", "csv")
    assert code == 0 and out.splitlines()[1] == "决策,决策,销售,购买 purchase,,签约,"
    target = tmp_path / "map.csv"
    assert run(env, "persona", "map", "owner_led", "--format", "csv", "--out", str(target))[0] == 0
    assert target.read_bytes().startswith(b"\xef\xbb\xbfstage,")  # a BOM, so Excel reads the Chinese
    assert run(env, "persona", "map", "nobody")[0] == 1
    assert run(env, "persona", "map", "owner_led", "--format", "pdf")[0] == 2

    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - owner: true\n  - round_robin: [甲, 乙]\n", encoding="utf-8")
    code, out = run(env, "assignment", "set", str(rules))
    assert code == 0 and "2 rule(s)" in out, out
    rules.write_text("rules:\n  - round_robin: []\n", encoding="utf-8")
    code, out = run(env, "assignment", "set", str(rules))
    assert code == 2 and "rules[0].round_robin" in out
    code, out = run(env, "assignment", "show", "--json")
    assert orjson.loads(out)["rules"] == [{"owner": "custom.owner"}, {"round_robin": ["甲", "乙"], "name": "default"}]

    now = clock.now()
    with app.services.uow() as uow:  # an open task, then past its deadline
        (cid,) = uow.contacts.search("other@x.cn", None, 1, 0)
        uow.journeys.add_tasks([TaskRecord("t1", "t1", cid, None, None, None, "sales", "lead", "甲", "open", now,
                                           now + timedelta(hours=2))])
        uow.commit()
    clock.advance(timedelta(hours=3))
    code, out = run(env, "task", "timeliness", "--json")
    assert code == 0, out
    rows = orjson.loads(out)
    assert rows[0]["assignee"] == "甲" and rows[0]["open_late"] == 1 and rows[0]["share"] == 0.0
