"""``touchflow serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy.engine import make_url

from touchflow.cli.common import console, fail

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["WRITE_SLOTS_ENV", "asgi_app", "register"]

WRITE_SLOTS_ENV = "TOUCHFLOW_API_WRITE_SLOTS"


def asgi_app() -> FastAPI:
    """Factory for uvicorn (``--factory``): each worker process wires its own application."""
    from touchflow.api import create_app
    from touchflow.bootstrap import bootstrap

    slots = os.environ.get(WRITE_SLOTS_ENV, "")
    return create_app(bootstrap(), write_slots=int(slots) if slots.isdigit() and int(slots) > 0 else None)


def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    access_log: Annotated[bool, typer.Option(help="log every request")] = False,
    write_slots: Annotated[int | None, typer.Option(min=1, help="write transactions at once per worker "
                                                               "(default 1; scale with --workers)")] = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs). The database is TOUCHFLOW_DATABASE_URL; its schema is
    created or upgraded first."""
    import uvicorn

    from touchflow.cli.common import open_app

    with open_app() as application:  # migrate once, before workers start
        url = make_url(application.settings.database_url).render_as_string(hide_password=True)
    if workers > 1 and url.startswith("sqlite"):
        console.print("[yellow]note:[/yellow] SQLite has one writer; extra workers help reads, not ingest")
    console.print(f"serving on http://{host}:{port} (docs: /docs), database {url}")
    if write_slots is not None:
        os.environ[WRITE_SLOTS_ENV] = str(write_slots)  # read by asgi_app in each worker
    try:
        uvicorn.run("touchflow.cli.serve:asgi_app", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, access_log=access_log)
    except OSError as exc:
        fail(f"cannot serve on {host}:{port}: {exc}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
