"""Helpers every command module shares: the application, JSON output, clean errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import orjson
import typer
from rich.console import Console

from touchflow.bootstrap import Application, bootstrap

__all__ = ["console", "err_console", "fail", "open_app", "print_json"]

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
