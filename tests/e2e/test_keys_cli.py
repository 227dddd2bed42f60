"""``touchflow keys status|rotate`` (ADR 0026): enabling encryption, rotating, resuming, errors as exit 2."""

from __future__ import annotations

import orjson
from sqlalchemy import text
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.services.contacts import get_contact_profile
from touchflow.services.ingest import RawItem, upsert_contacts


def run(app: Application, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"TOUCHFLOW_DATABASE_URL": app.settings.database_url})
    return result.exit_code, result.output


def test_keys_rotate_enables_encryption_then_rotates_and_status_counts_rows(app: Application) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": f"k{i}@x.cn", "name": f"客户{i}"}) for i in range(5)])
    code, out = run(app, "keys", "status", "--json")
    assert code == 0, out
    before = orjson.loads(out)
    assert before["enabled"] is False and before["plaintext_rows"] == 10

    code, out = run(app, "keys", "rotate", "--batch", "3", "--settle", "0", "--json")
    assert code == 0, out
    first = orjson.loads(out)
    assert first["finished"] is True and first["reencrypted"] == 10 and first["retired"] == []
    with app.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM contact_identities WHERE value LIKE '%@%'")).scalar_one() == 0

    code, out = run(app, "keys", "rotate", "--settle", "0", "--json")
    assert code == 0, out
    second = orjson.loads(out)
    assert second["retired"] == [first["new_key"]] and second["reencrypted"] == 10
    code, out = run(app, "keys", "status", "--json")
    status = orjson.loads(out)
    rows = {k["id"]: (k["state"], k["rows"]) for k in status["keys"] if k["purpose"] == "field"}
    assert rows == {first["new_key"]: ("retired", 0), second["new_key"]: ("active", 10)}
    assert status["plaintext_rows"] == 0 and status["rotating"] is False
    app.pii_keys.invalidate()
    assert get_contact_profile(app.services, "email:k3@x.cn").state.values["name"] == "客户3"

    code, out = run(app, "keys", "status")
    assert code == 0 and "plaintext rows: 0" in out


def test_a_missing_key_ring_is_a_clear_error_not_a_traceback(app: Application) -> None:
    upsert_contacts(app.services, "crm", [RawItem({"email": "a@x.cn"})])
    assert run(app, "keys", "rotate", "--settle", "0", "--json")[0] == 0
    key_file = app.key_source().path
    assert key_file is not None
    key_file.unlink()
    code, out = run(app, "keys", "rotate", "--settle", "0")
    assert code == 2
    assert "no secret key" in out and "Traceback" not in out
