"""Administration: ``init``, ``apikey``, ``source``."""

from __future__ import annotations

import typer

from touchflow.cli.common import console, open_app

__all__ = ["register"]


def init() -> None:
    """Create or upgrade the database (idempotent)."""
    with open_app() as application:
        revision = application.init_database()
        console.print(f"database ready at revision [bold]{revision}[/bold]: {application.settings.database_url}")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
