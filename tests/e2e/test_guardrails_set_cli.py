"""``guardrails set``: a misspelt field is an error naming it (with the likely meant one); a file changes only
what it names; ``--replace`` replaces the whole policy; ``show`` prints the policy in force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.store.tables import audit_log


@pytest.fixture
def env(app: Application) -> dict[str, str]:
    return {"TOUCHFLOW_DATABASE_URL": app.settings.database_url}


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def shown(env: dict[str, str]) -> dict[str, Any]:
    code, out = run(env, "guardrails", "show", "--json")
    assert code == 0, out
    value: dict[str, Any] = orjson.loads(out)
    return value


def test_misspelt_fields_are_refused_by_name_and_change_nothing(env: dict[str, str], tmp_path: Path) -> None:
    first = tmp_path / "first.yaml"
    first.write_text("cap:\n  per_day: 5\nquiet_hours:\n  start: '22:00'\n", encoding="utf-8")
    assert run(env, "guardrails", "set", str(first))[0] == 0
    before = shown(env)
    for text, field, meant in [("cap:\n  per_dya: 2\n", "cap.per_dya", "cap.per_day"),
                               ("quiet_hour:\n  start: '23:00'\n", "quiet_hour", "quiet_hours"),
                               ("per_day: 2\n", "per_day", "cap.per_day"),
                               ("fatigue:\n  pause_day: 3\n", "fatigue.pause_day", "fatigue.pause_days")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text, encoding="utf-8")
        code, out = run(env, "guardrails", "set", str(bad))
        assert code == 2, out
        assert field in out and "unknown field" in out and f"did you mean {meant}" in out
        assert shown(env) == before  # nothing changed, nothing reset


def test_a_file_changes_only_what_it_names_and_replace_replaces(app: Application, env: dict[str, str],
                                                               tmp_path: Path) -> None:
    first = tmp_path / "first.yaml"
    first.write_text("cap:\n  per_day: 5\n  per_channel: {sms: 1}\nquiet_hours:\n  start: '22:00'\n"
                     "consent_required: [sms]\n", encoding="utf-8")
    assert run(env, "guardrails", "set", str(first))[0] == 0
    patch = tmp_path / "patch.yaml"
    patch.write_text("fatigue:\n  streak: 4\ncap:\n  per_channel: {email: 2}\n", encoding="utf-8")
    code, out = run(env, "guardrails", "set", str(patch))
    assert code == 0, out
    assert "fatigue.streak: 3 → 4" in out
    policy = shown(env)
    assert policy["cap"] == {"per_day": 5, "per_channel": {"sms": 1, "email": 2}, "over_cap": "skip"}
    assert policy["quiet_hours"] == {"start": "22:00", "end": "08:00", "channels": ["sms", "wechat", "wecom"]}
    assert policy["fatigue"] == {"streak": 4, "pause_days": 14.0}
    assert policy["consent_required"] == ["sms"]

    whole = tmp_path / "whole.yaml"
    whole.write_text("cap:\n  per_day: 2\n", encoding="utf-8")
    code, out = run(env, "guardrails", "set", str(whole), "--replace")
    assert code == 0, out
    policy = shown(env)
    assert policy["cap"] == {"per_day": 2, "per_channel": {}, "over_cap": "skip"}
    assert policy["quiet_hours"]["start"] == "21:00" and policy["consent_required"] == []
    assert policy["fatigue"] == {"streak": 3, "pause_days": 14.0}
    with app.engine.connect() as c:
        actions = [r.action for r in c.execute(select(audit_log).order_by(audit_log.c.at))]
    assert actions.count("guardrails.set") == 3


def test_the_old_wechat_mp_name_is_accepted_with_a_warning(env: dict[str, str], tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text("quiet_hours:\n  channels: [sms, wechat_mp]\ncap:\n  per_channel: {wechat_mp: 1}\n",
                   encoding="utf-8")
    code, out = run(env, "guardrails", "set", str(old))
    assert code == 0, out
    assert "warning" in out and "wechat_mp" in out
    policy = shown(env)
    assert policy["quiet_hours"]["channels"] == ["sms", "wechat"]
    assert policy["cap"]["per_channel"] == {"wechat": 1}
