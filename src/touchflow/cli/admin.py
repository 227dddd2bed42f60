"""Administration: ``init``, ``apikey create|list|revoke``, ``source add|list``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.engine import make_url

from touchflow.bootstrap import Application
from touchflow.cli.common import (
    CsvOpt,
    console,
    emit_rows,
    fail,
    id_column,
    local_actor,
    local_time,
    open_app,
    print_json,
    workspace_zone,
)
from touchflow.cli.users import read_password
from touchflow.domain.errors import FieldError
from touchflow.security.crypto import SecretError
from touchflow.services.accounts import admin_count, create_user
from touchflow.services.apikeys import (
    KeySpec,
    NeedsApproval,
    check_key_name,
    create_api_key,
    list_api_keys,
    owner_account,
    revoke_api_key,
)
from touchflow.services.secrets import record_key_created
from touchflow.services.sources import list_sources, register_source

__all__ = ["register"]

apikey_app = typer.Typer(help="API keys for the HTTP API.", no_args_is_help=True)
source_app = typer.Typer(help="The registry of data sources.", no_args_is_help=True)


def init(as_json: Annotated[bool, typer.Option("--json")] = False,
         admin_email: Annotated[str | None, typer.Option(
             "--admin-email", help="make the first administrator (when there is none) with this login")] = None,
         admin_name: Annotated[str | None, typer.Option("--admin-name", help="their display name")] = None,
         admin_password_file: Annotated[str | None, typer.Option(
             "--admin-password-file", help="their password: this file's first line ('-': standard input); "
                                           "else asked at a prompt")] = None) -> None:
    """Create or upgrade the database, and make its secret key if it has none (idempotent).

    The key seals channel credentials and signs tracking links: TOUCHFLOW_SECRET_KEY if set, else a key
    file (mode 0600) — <database>.key beside a SQLite file, else one in TOUCHFLOW_CONFIG_DIR (~/.config/touchflow).
    With --admin-email, also the first administrator account (its first login sets up TOTP).
    """
    with open_app() as application:
        revision = application.init_database()
        try:
            where, made = application.create_secret_key()
        except SecretError as exc:
            fail(str(exc))
        if made:
            record_key_created(application.services, actor=local_actor().label, source=where,
                               key_id=application.key_ring().current.id)
        encrypted = application.encrypt_new_database(local_actor().label)
        admin = first_admin(application, admin_email, admin_name, admin_password_file)
        url = make_url(application.settings.database_url).render_as_string(hide_password=True)
    if as_json:
        print_json({"revision": revision, "database": url, "secret_key": where, "secret_key_created": made,
                    "pii_encrypted": encrypted, "admin": admin})
        return
    console.print(f"database ready at revision [bold]{revision}[/bold]: {url}")
    console.print(f"secret key {'created at' if made else 'in'} {where}"
                  + (" — back it up with the database: sealed credentials do not open without it" if made else ""))
    console.print("personal data encrypted at rest" if encrypted else
                  "personal data NOT encrypted yet: run `touchflow keys rotate` (an online pass, see docs/security.md)")
    if admin["created"]:
        console.print(f"administrator {admin['email']} created; their first login sets up TOTP")
    elif admin["hint"]:
        console.print(str(admin["hint"]))


_ADMIN_HINT = ("no administrator yet: create one with `touchflow user create EMAIL --name NAME --admin` "
               "(password at the prompt, or --password-file PATH)")


def first_admin(application: Application, email: str | None, name: str | None,
                password_file: str | None) -> dict[str, object]:
    """The first administrator, when there is none and ``--admin-email`` was given; otherwise a hint."""
    services = application.services
    if admin_count(services) > 0:
        return {"created": False, "email": None, "hint": None}
    if email is None:
        return {"created": False, "email": None, "hint": _ADMIN_HINT}
    password = read_password(password_file, option="--admin-password-file")
    if password is None:
        return {"created": False, "email": None,
                "hint": "no terminal to ask for the administrator's password: " + _ADMIN_HINT}
    try:
        user = create_user(services, email, name or email.partition("@")[0], "admin", password, actor=local_actor())
    except FieldError as exc:
        fail(f"--admin-{exc}")
    return {"created": True, "email": user.email, "hint": None}


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Argument(help="what the key is for")],
    role_name: Annotated[str | None, typer.Option("--role", help="admin, strategist, editor, viewer, reviewer, "
                                                                 "agent")] = None,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="a permission inside the role (repeat); "
                                                                    "the key may do only these")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="the person the key belongs to (account email)")]
    = None,
    service: Annotated[str | None, typer.Option("--service", help="the service account it belongs to "
                                                                  "(default: the key's name)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a key; it is printed once and stored only as a hash. Recorded as made by the OS account."""
    if owner is not None and service is not None:
        fail("owner: a key belongs to one person (--owner) or one service account (--service), not both")
    scopes = frozenset(s.strip() for s in scope) if scope else None
    with open_app() as application:
        try:
            check_key_name(name)
            account = owner_account(application.services, owner) if owner is not None else None
            chosen = role_name or (account.role if account else None) or ("admin" if scopes else None)
            if chosen is None:
                fail("role: give --role ROLE (or --scope P … to allow only those permissions)")
            spec = KeySpec(name, chosen, scopes, owner_user_id=account.user_id if account else None,
                           service_account=None if account else (service or name).strip()[:100])
            issued = create_api_key(application.services, spec, actor=local_actor())
        except NeedsApproval as exc:
            fail(str(exc))
        except FieldError as exc:
            fail(str(exc))
    if as_json:
        print_json({"id": issued.id, "name": issued.name, "role": issued.role,
                    "scopes": sorted(issued.scopes) if issued.scopes is not None else None,
                    "owner": spec.owner_user_id, "service": spec.service_account, "secret": issued.secret})
        return
    what = ", ".join(sorted(issued.scopes)) if issued.scopes is not None else f"role {issued.role}"
    console.print(f"key id {issued.id} ({issued.name}; {what}) — store it now, it is not shown again:")
    print(issued.secret)


@apikey_app.command("list")
def apikey_list(as_json: Annotated[bool, typer.Option("--json")] = False, as_csv: CsvOpt = False) -> None:
    """API keys (never their secret) with role, scopes, owner and last use, times in the workspace's zone.
    Last use is recorded at most once a minute."""
    with open_app() as application:
        keys = list_api_keys(application.services)
        zone = workspace_zone(application)
    rows = [{"id": k.id, "name": k.name, "role": k.role,
             "scopes": sorted(k.scopes) if k.scopes is not None else None,
             "owner": k.owner_user_id, "service": k.service_account, "created_at": k.created_at,
             "last_used_at": k.last_used_at, "revoked_at": k.revoked_at} for k in keys]
    if emit_rows(rows, ["id", "name", "role", "scopes", "owner", "service", "created_at", "last_used_at",
                        "revoked_at"], as_json=as_json, as_csv=as_csv, zone=zone):
        return
    table = Table(title=f"times in {zone.key}")
    id_column(table, "id")
    for header in ("name", "role / scopes", "owner", "created", "last used", "revoked"):
        table.add_column(header, overflow="fold")
    for key in keys:
        table.add_row(key.id, key.name, ", ".join(sorted(key.scopes)) if key.scopes is not None else key.role,
                      key.owner_user_id or f"service: {key.service_account or '—'}", local_time(key.created_at, zone),
                      local_time(key.last_used_at, zone) if key.last_used_at else "never",
                      local_time(key.revoked_at, zone) if key.revoked_at else "")
    console.print(table)


@apikey_app.command("revoke")
def apikey_revoke(key_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Revoke a key (recorded as the OS account running the command)."""
    with open_app() as application:
        if not revoke_api_key(application.services, key_id, actor=local_actor()):
            fail(f"no live key with id {key_id!r}", code=1)
    if as_json:
        print_json({"id": key_id, "revoked": True})
        return
    console.print(f"revoked {key_id}")


@source_app.command("add")
def source_add(
    name: str,
    kind: Annotated[str, typer.Option(help="crm, website, ecommerce, social, offline, custom")] = "custom",
    priority: Annotated[int | None, typer.Option(help="higher wins field conflicts")] = None,
    sync: Annotated[str, typer.Option(help="realtime or daily")] = "daily",
) -> None:
    """Register or reconfigure a data source."""
    with open_app() as application:
        try:
            source = register_source(application.services, name, kind=kind, priority=priority, sync_mode=sync,
                                     actor=local_actor().label)
        except ValueError as exc:
            fail(str(exc))
    console.print(f"source {source.name}: kind {source.kind}, priority {source.priority}, sync {source.sync_mode}")


@source_app.command("list")
def source_list(as_json: Annotated[bool, typer.Option("--json")] = False, as_csv: CsvOpt = False) -> None:
    """Sources with their record counts and sync success rate (A6: ≥ 95%)."""
    with open_app() as application:
        sources = list_sources(application.services)
        zone = workspace_zone(application)
    rows = [{"name": s.name, "kind": s.kind, "priority": s.priority, "sync_mode": s.sync_mode,
             "received": s.received, "accepted": s.accepted, "rejected": s.rejected,
             "success_rate": s.success_rate, "last_sync_at": s.last_sync_at} for s in sources]
    if emit_rows(rows, list(rows[0]) if rows else ["name"], as_json=as_json, as_csv=as_csv, zone=zone):
        return
    table = Table("source", "kind", "priority", "sync", "received", "accepted", "rejected", "success",
                  f"last sync ({zone.key})")
    for s in sources:
        rate = "—" if s.success_rate is None else f"{s.success_rate:.1%}"
        table.add_row(s.name, s.kind, str(s.priority), s.sync_mode, str(s.received), str(s.accepted),
                      str(s.rejected), rate, local_time(s.last_sync_at, zone) if s.last_sync_at else "never")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.add_typer(apikey_app, name="apikey")
    app.add_typer(source_app, name="source")
