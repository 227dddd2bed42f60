"""Helpers every command module shares: the application, JSON output, clean errors."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import orjson
import typer
import yaml
from rich.console import Console

from touchflow.bootstrap import Application, bootstrap
from touchflow.domain.actors import Actor

__all__ = ["console", "err_console", "fail", "load_document", "local_actor", "open_app", "print_json",
           "require_secret_key"]

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
    finally:
        application.close()


def print_json(value: object) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")


def fail(message: str, code: int = 2) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def require_secret_key(application: Application) -> None:
    """Exit 2 unless the database has a usable secret key (``serve`` and ``worker`` sign and check links)."""
    from touchflow.security.crypto import SecretError

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
        data = orjson.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
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
