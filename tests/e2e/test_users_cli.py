"""``touchflow user …`` and ``touchflow init --admin-email``: accounts made and changed by the local
administrator; passwords only from a prompt, a file or standard input, never the command line."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from tests.e2e.accounts_support import PASSWORD
from touchflow.bootstrap import Application
from touchflow.cli import app as cli
from touchflow.security.passwords import verify_password
from touchflow.services.accounts import list_users
from touchflow.store.tables import audit_log, users


def run(app: Application, *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, env={"TOUCHFLOW_DATABASE_URL": app.settings.database_url})


def create(app: Application, email: str, *extra: str) -> Result:
    return run(app, "user", "create", email, "--name", "Li Na", *extra, "--password-file", "-", "--json",
               stdin=PASSWORD + "\n")


def test_user_create_reads_the_password_from_stdin_and_stores_only_an_argon2_hash(app: Application) -> None:
    made = create(app, "Li.Na@Example.cn", "--role", "strategist")
    assert made.exit_code == 0, made.output
    doc = orjson.loads(made.stdout)
    assert doc["email"] == "l***@example.cn" and doc["role"] == "strategist" and doc["two_factor"] == "pending"
    with app.engine.connect() as c:
        row = c.execute(select(users)).one()
        audit = c.execute(select(audit_log).where(audit_log.c.action == "user.create")).one()
    assert row.email == "li.na@example.cn" and row.password_hash.startswith("$argon2id$")
    assert audit.actor.startswith("os:") and PASSWORD not in orjson.dumps(audit.details).decode()


def test_user_create_refuses_bad_input_with_exit_2(app: Application, tmp_path: Path) -> None:
    weak = run(app, "user", "create", "a@example.cn", "--name", "A", "--role", "viewer", "--password-file", "-",
               stdin="short\n")
    assert weak.exit_code == 2 and "password" in weak.output and "12" in weak.output
    no_tty = run(app, "user", "create", "a@example.cn", "--name", "A", "--role", "viewer")
    assert no_tty.exit_code == 2 and "--password-file" in no_tty.output
    assert create(app, "a@example.cn", "--role", "boss").exit_code == 2
    assert create(app, "a@example.cn").exit_code == 2  # no role
    assert create(app, "a@example.cn", "--admin", "--role", "viewer").exit_code == 2
    missing = run(app, "user", "create", "a@example.cn", "--name", "A", "--admin", "--password-file",
                  str(tmp_path / "nope.txt"))
    assert missing.exit_code == 2 and "nope.txt" in missing.output
    assert create(app, "a@example.cn", "--admin").exit_code == 0
    again = create(app, "A@example.cn", "--role", "viewer")
    assert again.exit_code == 2 and "already has an account" in again.output
    assert run(app, "user", "create", "--help").output.count("--password ") == 0  # no password option


def test_list_disable_reset_set_role_logout_all(app: Application, tmp_path: Path) -> None:
    assert create(app, "boss@example.cn", "--admin").exit_code == 0
    assert create(app, "li.na@example.cn", "--role", "editor").exit_code == 0
    listed = orjson.loads(run(app, "user", "list", "--json").stdout)
    assert [(u["email"], u["role"], u["two_factor"], u["disabled"]) for u in listed] == [
        ("b***@example.cn", "admin", "pending", False), ("l***@example.cn", "editor", "pending", False)]
    assert "last_login_at" in listed[0] and "li.na@example.cn" not in run(app, "user", "list").output

    changed = run(app, "user", "set-role", "li.na@example.cn", "viewer", "--json")
    assert changed.exit_code == 0 and orjson.loads(changed.stdout)["role"] == "viewer"
    assert run(app, "user", "set-role", "li.na@example.cn", "root").exit_code == 2
    assert run(app, "user", "set-role", "boss@example.cn", "viewer").exit_code == 2  # the last administrator
    assert run(app, "user", "disable", "boss@example.cn").exit_code == 2

    reset = run(app, "user", "reset-2fa", "li.na@example.cn", "--json")
    assert reset.exit_code == 0 and orjson.loads(reset.stdout)["two_factor"] == "pending"
    assert run(app, "user", "logout-all", "li.na@example.cn", "--json").exit_code == 0
    new_password = run(app, "user", "set-password", "li.na@example.cn", "--password-file", "-", "--json",
                       stdin="another good one 77\n")
    assert new_password.exit_code == 0, new_password.output
    assert run(app, "user", "set-password", "li.na@example.cn", "--password-file", "-",
               stdin="li.na@example.cn-2026\n").exit_code == 2  # contains the email
    disabled = run(app, "user", "disable", "li.na@example.cn", "--json")
    assert disabled.exit_code == 0 and orjson.loads(disabled.stdout)["disabled"] is True
    assert run(app, "user", "disable", "nobody@example.cn").exit_code == 1
    with app.engine.connect() as c:
        assert verify_password(c.execute(select(users.c.password_hash).where(
            users.c.email == "li.na@example.cn")).scalar_one(), "another good one 77").ok
        done = [r.action for r in c.execute(select(audit_log.c.action).order_by(audit_log.c.id))]
    assert [a for a in done if a.startswith("user.")] == [
        "user.create", "user.create", "user.set_role", "user.2fa_reset", "user.logout_all", "user.set_password",
        "user.disable"]


def test_init_makes_the_first_administrator_once(app: Application, tmp_path: Path) -> None:
    hint = run(app, "init", "--json")
    assert hint.exit_code == 0 and "touchflow user create" in orjson.loads(hint.stdout)["admin"]["hint"]
    no_tty = run(app, "init", "--admin-email", "boss@example.cn", "--json")
    assert no_tty.exit_code == 0 and orjson.loads(no_tty.stdout)["admin"]["created"] is False
    secret = tmp_path / "admin-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    made = run(app, "init", "--admin-email", "boss@example.cn", "--admin-name", "Boss", "--admin-password-file",
               str(secret), "--json")
    assert made.exit_code == 0, made.output
    assert orjson.loads(made.stdout)["admin"] == {"created": True, "email": "boss@example.cn", "hint": None}
    assert [(s.user.email, s.user.role) for s in list_users(app.services)] == [("boss@example.cn", "admin")]
    twice = run(app, "init", "--admin-email", "other@example.cn", "--admin-password-file", str(secret), "--json")
    assert orjson.loads(twice.stdout)["admin"]["created"] is False and len(list_users(app.services)) == 1
    assert "touchflow user create" not in run(app, "init").output  # an administrator exists: no hint


def test_init_without_a_terminal_still_works_and_says_how_to_make_the_administrator(app: Application) -> None:
    done = run(app, "init", "--admin-email", "boss@example.cn")
    assert done.exit_code == 0 and "touchflow user create EMAIL --name NAME --admin" in done.output
    assert list_users(app.services) == []
