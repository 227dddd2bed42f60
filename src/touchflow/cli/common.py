"""Helpers every command module shares: the application, JSON output, clean errors."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import orjson
import typer
import yaml
from rich.console import Console
from rich.table import Table

from touchflow.bootstrap import Application, bootstrap
from touchflow.domain.actors import Actor
from touchflow.domain.csv_cells import write_rows
from touchflow.domain.safe_yaml import YamlTooLarge, load_yaml
from touchflow.security.crypto import SecretError
from touchflow.security.pii import PiiError
from touchflow.services.channels import current_guardrail_policy

__all__ = ["CsvOpt", "console", "emit_rows", "err_console", "fail", "id_column", "load_document", "local_actor",
           "local_time", "one_format", "open_app", "print_json", "require_secret_key", "who", "workspace_zone"]

CsvOpt = Annotated[bool, typer.Option("--csv", help="CSV on standard output (formula cells neutralised)")]

console = Console()
err_console = Console(stderr=True)


@contextmanager
def open_app(init: bool = True) -> Iterator[Application]:
    """The wired application on ``TOUCHFLOW_DATABASE_URL`` (default ./touchflow.db), schema up to date."""
    application = bootstrap()
    try:
        if init:
            application.init_database()
        yield application
    except (SecretError, PiiError) as exc:  # encrypted personal data needs the key ring: say so, exit 2
        fail(str(exc))
    finally:
        application.close()


def print_json(value: object) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def require_secret_key(application: Application) -> None:
    """Exit 2 unless the database has a usable secret key (``serve`` and ``worker`` sign and check links)."""
    try:
        application.key_ring()
    except SecretError as exc:
        fail(f"refusing to start: {exc}")


def load_document(path: Path, what: str = "the document") -> dict[str, Any]:
    """A YAML or JSON mapping from a file (``.json`` by its suffix, YAML otherwise); exit 2 naming the problem."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")
    try:
        data = orjson.loads(text) if path.suffix.lower() == ".json" else load_yaml(text)
    except YamlTooLarge as exc:
        fail(f"{path}: {exc}")
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        fail(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}")
    if not isinstance(data, dict):
        fail(f"{path}: {what} must be a mapping")
    return data


def local_actor() -> Actor:
    """Who runs this command: the operating-system account of the process's real user id (``os:<login>``).

    Not ``getpass.getuser()`` first: it believes ``$USER`` / ``$LOGNAME``, which anyone can set, and the
    four-eyes review must not be passed by typing ``USER=carol``."""
    try:
        import pwd
    except ImportError:  # Windows: no user ids; the login name is what the system offers
        try:
            return Actor.os_user(getpass.getuser())
        except OSError as exc:
            fail(f"cannot tell which account runs this command: {exc}")
    uid = os.getuid()
    try:
        return Actor.os_user(pwd.getpwuid(uid).pw_name)
    except KeyError:  # a container user without a passwd entry
        return Actor.os_user(f"uid-{uid}")


def workspace_zone(application: Application) -> ZoneInfo:
    """The zone times are shown in: the workspace's (the guardrail policy's default_timezone, Asia/Shanghai)."""
    return ZoneInfo(current_guardrail_policy(application.services).default_timezone)


def local_time(at: datetime | None, zone: ZoneInfo) -> str:
    """``2026-03-02 09:00 +08:00``: a time for a person, always with its zone."""
    if at is None:
        return "-"
    local = at.astimezone(zone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"


def id_column(table: Table, header: str = "contact id") -> None:
    """An id column that is never cut: ids share their time prefix, so a truncated id is useless."""
    table.add_column(header, no_wrap=True, min_width=32, overflow="fold")


def who(row: Mapping[str, Any], prefix: str = "") -> str:
    """Masked phone and email of a contact row, one per line (the table wraps nothing else)."""
    return "\n".join(str(row[f"{prefix}{k}"]) for k in ("phone", "email") if row.get(f"{prefix}{k}")) or "—"


def _cell(value: object, zone: ZoneInfo) -> object:
    if isinstance(value, datetime):
        return local_time(value, zone)
    if isinstance(value, list | tuple | set | frozenset):
        return "; ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return value


def one_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        fail("--json and --csv: choose one (只能选一种格式)")


def emit_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, as_json: bool, as_csv: bool,
              zone: ZoneInfo | None = None) -> bool:
    """Print ``rows`` as JSON or CSV when asked (True), else leave the table to the caller (False).
    CSV times are local to ``zone`` with their offset; JSON times are ISO 8601 with theirs."""
    one_format(as_json, as_csv)
    if as_json:
        print_json([dict(r) for r in rows])
        return True
    if as_csv:
        where = zone or ZoneInfo("Asia/Shanghai")
        write_rows(sys.stdout, [list(columns), *([_cell(r.get(c), where) for c in columns] for r in rows)],
                   lineterminator="\n")
        return True
    return False
