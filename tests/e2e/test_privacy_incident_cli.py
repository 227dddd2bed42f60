"""``touchflow privacy …`` and ``touchflow incident …`` end to end: JSON out, clear errors, the drill reports
each step and is recorded in the real workspace's audit log."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
from sqlalchemy import select
from typer.testing import CliRunner

from tests.e2e.test_channels_cli import KEY
from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.store.tables import audit_log


def run(app: Application, *args: str) -> tuple[int, str]:
    env = {"TOUCHFLOW_DATABASE_URL": app.settings.database_url, "TOUCHFLOW_SECRET_KEY": KEY}
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def test_privacy_export_to_a_private_file_and_opt_out(app: Application, tmp_path: Path) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "cli@pipl.test", "name": "周洁",
                                                   "consent.sms": "granted"})])
    out = tmp_path / "person.json"
    code, text = run(app, "privacy", "export", "email:cli@pipl.test", "--out", str(out), "--json")
    assert code == 0, text
    assert orjson.loads(text)["consents"] == 1
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    document = orjson.loads(out.read_bytes())
    assert document["contact"]["attributes"]["name"] == "周洁"
    assert document["consent_history"][0]["channel"] == "sms"
    code, text = run(app, "privacy", "opt-out", "email:cli@pipl.test", "--json")
    assert code == 0 and orjson.loads(text)["personalisation"] == "opted_out"
    code, text = run(app, "contact", "show", "email:cli@pipl.test", "--json")
    shown = orjson.loads(text)
    assert shown["custom"]["personalisation"] == "opted_out" and shown["consent_history"][0]["status"] == "granted"
    code, text = run(app, "privacy", "export", "email:nobody@pipl.test")
    assert code == 1 and "no contact" in text


def test_incident_cli_open_status_step_resume_timeline(app: Application) -> None:
    code, text = run(app, "incident", "open", "--summary", "导出文件外泄", "--revoke-access", "--json")
    assert code == 0, text
    opened = orjson.loads(text)
    assert opened["kill_switch"] is True and [c["step"] for c in opened["clocks"]] == ["isolate", "report", "notify"]
    code, text = run(app, "incident", "status", opened["id"])
    assert code == 0 and "ON" in text and "+08:00" in text  # times with their zone
    code, text = run(app, "incident", "step", "done", opened["id"], "isolate", "--note", "keys revoked", "--json")
    assert code == 0 and orjson.loads(text)["clocks"][0]["state"] == "done"
    code, text = run(app, "incident", "step", "done", opened["id"], "lunch")
    assert code == 2 and "step" in text
    code, text = run(app, "incident", "open", "--summary", " ")
    assert code == 2 and "summary" in text
    assert run(app, "incident", "open", "--summary", "x", "--since", "2026-03-02T08:00")[0] == 2  # no zone
    assert run(app, "incident", "open", "--summary", "x", "--since", "yesterday")[0] == 2
    assert run(app, "incident", "resume", "--json")[1].count("true") == 1
    code, text = run(app, "incident", "timeline", opened["id"], "--json")
    assert [r["action"] for r in orjson.loads(text)] == [
        "incident.open", "incident.kill_switch", "incident.revoke_access", "incident.step.isolate",
        "incident.resume"]
    code, text = run(app, "incident", "list", "--json")
    assert code == 0 and orjson.loads(text)[0]["kill_switch"] is False
    assert run(app, "incident", "status", "nope")[0] == 1


def test_drill_reports_each_step_and_is_recorded(app: Application) -> None:
    code, text = run(app, "incident", "drill", "--people", "40", "--json")
    assert code == 0, text
    report = orjson.loads(text)
    steps = {s["step"]: s for s in report["steps"]}
    assert list(steps) == ["prepare", "broadcast_started", "open_incident", "broadcast_stopped", "affected",
                           "notices_approved", "clocks", "resume_and_close"]
    assert report["ok"] and all(s["seconds"] >= 0 for s in steps.values())
    assert steps["broadcast_stopped"]["detail"] == "0 sent after the kill switch"
    with app.engine.connect() as c:
        recorded = c.execute(select(audit_log.c.action, audit_log.c.details)
                             .where(audit_log.c.action == "incident.drill")).one()
    assert len(recorded.details["steps"]) == 8  # the real workspace keeps the drill; its incident stayed there
    code, text = run(app, "incident", "list", "--all", "--json")
    assert orjson.loads(text) == []
