"""``touchflow user create|list|disable|reset-2fa|set-role|set-password|logout-all``: accounts, by the
local administrator.

A password never comes from the command line (shell history, ``ps``): it is typed at a prompt (twice), or read
from ``--password-file PATH`` (``-``: standard input, first line).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from touchflow.cli.common import console, fail, local_actor, local_time, open_app, print_json, workspace_zone
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.account_ports import UserRecord
from touchflow.domain.governance.permissions import ROLE_NAMES
from touchflow.domain.masking import mask_email
from touchflow.services.accounts import (
    UserNotFound,
    create_user,
    disable_user,
    list_users,
    logout_user_everywhere,
    reset_2fa,
    set_password,
    set_role,
)
from touchflow.services.approval_kinds import ROLE_ADMIN_KIND
from touchflow.services.approvals import request_approval
from touchflow.services.context import ServiceContext

__all__ = ["read_password", "register"]

user_app = typer.Typer(help="People who log in (password + TOTP), their roles and sessions.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on standard output")]
PasswordFile = Annotated[str | None, typer.Option(
    "--password-file", help="read the password from this file's first line ('-': standard input)")]


def read_password(path: str | None, *, option: str = "--password-file") -> str | None:
    """The password from ``path`` (``-``: stdin), else a hidden prompt with confirmation on a terminal, else
    None (no terminal and no file: the caller says what to do)."""
    if path is not None:
        try:
            text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"{option}: cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
        line = text.splitlines()[0] if text.splitlines() else ""
        if not line:
            fail(f"{option}: {path} holds no password (its first line is empty)")
        return line
    if not sys.stdin.isatty():
        return None
    value: str = typer.prompt("Password (min. 12 characters)", hide_input=True, confirmation_prompt=True)
    return value


def _document(user: UserRecord, recovery_left: int | None = None, sessions: int | None = None) -> dict[str, object]:
    doc: dict[str, object] = {
        "id": user.id, "email": mask_email(user.email), "display_name": user.display_name, "role": user.role,
        "two_factor": "enrolled" if user.enrolled else "pending", "last_login_at": user.last_login_at,
        "disabled": user.disabled_at is not None, "disabled_at": user.disabled_at, "created_at": user.created_at}
    if recovery_left is not None:
        doc["recovery_codes_left"] = recovery_left
    if sessions is not None:
        doc["live_sessions"] = sessions
    return doc


def _role(name: str) -> str:
    if name not in ROLE_NAMES:
        fail(f"role: unknown role {name!r}: one of {', '.join(ROLE_NAMES)}")
    return name


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="the login (an email address)")],
    name: Annotated[str, typer.Option("--name", help="display name")],
    role_name: Annotated[str | None, typer.Option("--role", help=f"one of {', '.join(ROLE_NAMES)}")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="same as --role admin")] = False,
    password_file: PasswordFile = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an account. Its first login enrols TOTP (two-factor authentication is mandatory)."""
    if admin and role_name not in (None, "admin"):
        fail(f"--admin and --role {role_name}: choose one")
    if not admin and role_name is None:
        fail("role: give --role ROLE (or --admin)")
    chosen = _role("admin" if admin else str(role_name))
    password = read_password(password_file)
    if password is None:
        fail("password: no terminal to ask on; give --password-file PATH (or - for standard input)")
    with open_app() as application:
        try:
            user = create_user(application.services, email, name, chosen, password, actor=local_actor())
        except FieldError as exc:
            fail(str(exc))
    if as_json:
        print_json(_document(user))
        return
    console.print(f"created {user.email} ({user.display_name}), role {user.role}; the first login sets up TOTP")


@user_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    """Accounts: masked email, role, 2FA state, last login, disabled."""
    with open_app() as application:
        found = list_users(application.services)
        zone = workspace_zone(application)
    if as_json:
        print_json([_document(s.user, s.recovery_codes_left, s.live_sessions) for s in found])
        return
    table = Table("email", "name", "role", "2FA", "last login", "sessions", "disabled", title=f"times in {zone.key}")
    for s in found:
        u = s.user
        table.add_row(mask_email(u.email), u.display_name, u.role,
                      f"yes ({s.recovery_codes_left} codes)" if u.enrolled else "not yet",
                      local_time(u.last_login_at, zone), str(s.live_sessions),
                      local_time(u.disabled_at, zone) if u.disabled_at else "")
    console.print(table)


def _act(change: Callable[[ServiceContext], UserRecord], as_json: bool, done: str) -> None:
    """Run one change to an account as the local administrator: no such account exits 1, a refused change 2."""
    with open_app() as application:
        try:
            user = change(application.services)
        except UserNotFound as exc:
            fail(str(exc), code=1)
        except FieldError as exc:
            fail(str(exc))
    if as_json:
        print_json(_document(user))
        return
    console.print(f"{user.email}: {done}")


@user_app.command("disable")
def user_disable(email: str, as_json: JsonOpt = False) -> None:
    """The account can no longer log in; its sessions end now."""
    _act(lambda ctx: disable_user(ctx, email, actor=local_actor()), as_json, "disabled, sessions ended")


@user_app.command("reset-2fa")
def user_reset_2fa(email: str, as_json: JsonOpt = False) -> None:
    """Forget the account's TOTP secret and recovery codes (lost phone): the next login enrols again."""
    _act(lambda ctx: reset_2fa(ctx, email, actor=local_actor()), as_json,
         "two-factor reset; the next login enrols again; sessions ended")


@user_app.command("logout-all")
def user_logout_all(email: str, as_json: JsonOpt = False) -> None:
    """End every session of the account."""
    _act(lambda ctx: logout_user_everywhere(ctx, email, actor=local_actor()), as_json, "every session ended")


@user_app.command("set-role")
def user_set_role(email: str, role_name: Annotated[str, typer.Argument(metavar="ROLE")],
                  reason: Annotated[str, typer.Option("--reason", help="why (shown to the approver)")] = "",
                  as_json: JsonOpt = False) -> None:
    """Change the account's role; its sessions end (the new role starts with a new login). A change to admin is a
    request until another person approves it (`touchflow approval approve ID`)."""
    chosen = _role(role_name)
    if chosen == "admin":
        _request_admin(email, reason, as_json)
        return
    _act(lambda ctx: set_role(ctx, email, chosen, actor=local_actor()), as_json, f"role {chosen}; sessions ended")


def _request_admin(email: str, reason: str, as_json: bool) -> None:
    if not reason.strip():
        fail("reason: a change to admin needs --reason (the approver reads it)")
    with open_app() as application:
        try:
            request = request_approval(application.services, local_actor(), ROLE_ADMIN_KIND, f"user:{email}",
                                       {"user_email": email, "role": "admin"}, reason=reason)
        except FieldError as exc:
            fail(str(exc))
    if as_json:
        print_json({"request": request.id, "state": request.state, "kind": request.kind, "user": email})
        return
    console.print(f"request {request.id}: {email} → admin waits for a second person "
                  f"(`touchflow approval approve {request.id}`)")


@user_app.command("set-password")
def user_set_password(email: str, password_file: PasswordFile = None, as_json: JsonOpt = False) -> None:
    """Set a new password (a forgotten one); the account's sessions end. Its TOTP stays as it was."""
    password = read_password(password_file)
    if password is None:
        fail("password: no terminal to ask on; give --password-file PATH (or - for standard input)")
    _act(lambda ctx: set_password(ctx, email, password, actor=local_actor()), as_json,
         "new password set; sessions ended")


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
