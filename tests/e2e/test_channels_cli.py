"""Operator commands for channels and guardrails: credentials stay sealed, bad input names its field,
only a person with a reason lifts a complaint freeze."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.cli.common import local_actor
from touchflow.security.crypto import SecretBox
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.store.tables import audit_log, channel_configs, contact_freezes

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
PASSWORD = "S3cret-pw-不要泄露"


@pytest.fixture
def env(app: Application) -> dict[str, str]:
    return {"TOUCHFLOW_DATABASE_URL": app.settings.database_url, "TOUCHFLOW_SECRET_KEY": KEY}


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def test_channel_set_seals_the_secret_and_list_never_shows_it(app: Application, env: dict[str, str],
                                                              tmp_path: Path) -> None:
    secret_file = tmp_path / "smtp.secret"
    secret_file.write_text(f"# the SMTP password\npassword={PASSWORD}\n", encoding="utf-8")
    code, out = run(env, "channel", "set", "email", "--kind", "smtp", "--setting", "host=smtp.example.cn",
                    "--setting", "port=465", "--setting", "username=news", "--setting", "from_address=news@example.cn",
                    "--secret-file", str(secret_file), "--rate", "50", "--concurrency", "2")
    assert code == 0, out
    with app.engine.connect() as c:
        stored = c.execute(select(channel_configs)).one()
        audit = " ".join(str(r.details) for r in c.execute(select(audit_log)))
    assert stored.kind == "smtp" and stored.settings == {"host": "smtp.example.cn", "port": 465, "username": "news",
                                                         "from_address": "news@example.cn"}
    assert PASSWORD not in stored.secret and stored.secret.startswith("v1.")
    assert SecretBox(base64.urlsafe_b64decode(KEY)).open(stored.secret, "channel:email") == {"password": PASSWORD}
    assert PASSWORD not in audit

    code, out = run(env, "channel", "set", "email", "--kind", "smtp", "--setting", "host=smtp2.example.cn",
                    "--disable")  # no --secret-file: the sealed one is kept
    assert code == 0, out
    for args in (("channel", "list"), ("channel", "list", "--json")):
        code, out = run(env, *args)
        assert code == 0 and PASSWORD not in out and stored.secret not in out
    [listed] = orjson.loads(run(env, "channel", "list", "--json")[1])
    assert (listed["secret"], listed["enabled"], listed["settings"]) == ("set", False, {"host": "smtp2.example.cn"})


def test_channel_set_refuses_unknown_kinds_and_credentials_in_settings(env: dict[str, str]) -> None:
    code, out = run(env, "channel", "set", "sms", "--kind", "carrier_pigeon")
    assert code == 2 and "kind" in out and "carrier_pigeon" in out
    code, out = run(env, "channel", "set", "sms", "--kind", "sms_http", "--setting", "api_token=abc")
    assert code == 2 and "settings.api_token" in out
    code, out = run(env, "channel", "set", "sms", "--kind", "sms_http", "--setting", "no-equals-sign")
    assert code == 2 and "key=value" in out
    assert orjson.loads(run(env, "channel", "list", "--json")[1]) == []


def test_guardrails_set_names_the_bad_field_and_keeps_the_policy(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cap:\n  per_day: -1\nquiet_hours:\n  start: '22:00'\n", encoding="utf-8")
    code, out = run(env, "guardrails", "set", str(bad))
    assert code == 2 and "cap.per_day" in out
    late = tmp_path / "late.json"
    late.write_text('{"quiet_hours": {"start": "25:00"}}', encoding="utf-8")
    code, out = run(env, "guardrails", "set", str(late))
    assert code == 2 and "quiet_hours.start" in out
    assert orjson.loads(run(env, "guardrails", "show", "--json")[1])["cap"]["per_day"] == 3  # unchanged

    good = tmp_path / "policy.yaml"
    good.write_text("cap:\n  per_day: 5\nquiet_hours:\n  start: '22:00'\n  end: '08:00'\n", encoding="utf-8")
    code, out = run(env, "guardrails", "set", str(good))
    assert code == 0, out
    shown = orjson.loads(run(env, "guardrails", "show", "--json")[1])
    assert shown["cap"]["per_day"] == 5 and shown["quiet_hours"]["start"] == "22:00"


def test_freeze_and_unfreeze_from_the_command_line(app: Application, env: dict[str, str]) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "angry@example.cn"})])
    code, out = run(env, "contact", "freeze", "email:angry@example.cn", "--reason", "电话投诉：骚扰")
    assert code == 0 and "frozen" in out
    code, out = run(env, "contact", "unfreeze", "email:angry@example.cn")
    assert code == 2 and "--reason" in out  # a reason is required
    code, out = run(env, "contact", "unfreeze", "email:angry@example.cn", "--by", "王经理", "--reason", "x")
    assert code == 2 and "--by" in out  # who lifts it is the OS account running the command, not a typed name
    code, out = run(env, "contact", "unfreeze", "email:angry@example.cn", "--reason", "  ")
    assert code == 2
    with app.engine.connect() as c:
        assert c.execute(select(contact_freezes.c.lifted_at)).scalar_one() is None
    code, out = run(env, "contact", "unfreeze", "email:angry@example.cn", "--reason", "已回访道歉")
    assert code == 0, out
    with app.engine.connect() as c:
        lifted = c.execute(select(contact_freezes)).one()
    assert (lifted.lifted_by, lifted.lift_reason) == (local_actor().label, "已回访道歉")
    assert lifted.lifted_by.startswith("os:")
    code, out = run(env, "contact", "unfreeze", "email:angry@example.cn", "--reason", "again")
    assert code == 1 and "not frozen" in out
    assert run(env, "contact", "freeze", "email:nobody@example.cn", "--reason", "x")[0] == 1


def test_suppression_list_add_remove(env: dict[str, str]) -> None:
    assert run(env, "suppression", "add", "email", "Spam.Trap@Example.cn", "--reason", "manual")[0] == 0
    assert run(env, "suppression", "add", "sms", "13800138000")[0] == 0
    listed = orjson.loads(run(env, "suppression", "list", "--json")[1])
    assert sorted((s["channel"], s["address"]) for s in listed) == [("email", "spam.trap@example.cn"),
                                                                    ("sms", "+8613800138000")]
    assert run(env, "suppression", "remove", "sms", "+86 138 0013 8000")[0] == 0
    assert run(env, "suppression", "remove", "sms", "+8613800138000")[0] == 1
    assert [s["channel"] for s in orjson.loads(run(env, "suppression", "list", "--json")[1])] == ["email"]


def test_channel_secrets_come_from_stdin_or_a_json_file_never_the_command_line(
        app: Application, env: dict[str, str], tmp_path: Path) -> None:
    code, out = run(env, "channel", "set", "sms", "--kind", "sms_http", "--setting", "base_url=https://sms.example.cn",
                    "--secret", "api_token=on-the-command-line")
    assert code == 2 and "--secret-file" in out and "stdin" in out and "on-the-command-line" not in out
    with app.engine.connect() as c:
        assert c.execute(select(channel_configs)).first() is None  # nothing stored

    result = CliRunner().invoke(cli, ["channel", "set", "sms", "--kind", "sms_http", "--setting",
                                      "base_url=https://sms.example.cn", "--secret-file", "-"],
                                env=env, input='{"api_token": "from-stdin"}')
    assert result.exit_code == 0, result.output
    with app.engine.connect() as c:
        sealed = c.execute(select(channel_configs.c.secret)).scalar_one()
    assert SecretBox(base64.urlsafe_b64decode(KEY)).open(sealed, "channel:sms") == {"api_token": "from-stdin"}

    bad = tmp_path / "bad.json"
    bad.write_text('{"api_token": ', encoding="utf-8")
    code, out = run(env, "channel", "set", "sms", "--kind", "sms_http", "--secret-file", str(bad))
    assert code == 2 and "not valid JSON" in " ".join(out.split())
    code, out = run(env, "channel", "set", "sms", "--kind", "sms_http", "--secret-file", str(tmp_path / "absent"))
    assert code == 2 and "No such file" in " ".join(out.split())

    result = CliRunner().invoke(cli, ["channel", "set", "sms", "--kind", "sms_http", "--setting",
                                      "base_url=https://sms.example.cn", "--ask-secret", "api_token"],
                                env=env, input="typed-hidden\n")
    assert result.exit_code == 0 and "typed-hidden" not in result.output, result.output
    with app.engine.connect() as c:
        sealed = c.execute(select(channel_configs.c.secret)).scalar_one()
    assert SecretBox(base64.urlsafe_b64decode(KEY)).open(sealed, "channel:sms") == {"api_token": "typed-hidden"}


def test_channel_set_refuses_a_setting_the_adapter_does_not_have(app: Application, env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["channel", "set", "sms", "--kind", "sms_http", "--setting",
                                      "url=https://sms.example.cn", "--secret-file", "-"], env=env, input="api_token=t")
    code, out = result.exit_code, result.output
    assert code == 2 and "unknown setting(s) url" in out and "base_url" in out
    with app.engine.connect() as c:
        assert c.execute(select(channel_configs)).first() is None
