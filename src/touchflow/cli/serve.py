"""``touchflow serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from sqlalchemy.engine import make_url

from touchflow.cli.common import console, fail, require_secret_key

if TYPE_CHECKING:
    from fastapi import FastAPI

    from touchflow.bootstrap import Application

__all__ = ["EMBEDDED_WORKER_ENV", "WRITE_SLOTS_ENV", "asgi_app", "register"]

WRITE_SLOTS_ENV = "TOUCHFLOW_API_WRITE_SLOTS"
EMBEDDED_WORKER_ENV = "TOUCHFLOW_EMBEDDED_WORKER"


def asgi_app() -> FastAPI:
    """Factory for uvicorn (``--factory``): each worker process wires its own application.

    With the embedded worker on, the journey runtime runs in a thread beside the API for the
    lifetime of the server and stops after its current batch on shutdown.
    """
    from touchflow.api import create_app
    from touchflow.bootstrap import bootstrap
    from touchflow.heap import freeze_startup_heap

    slots = os.environ.get(WRITE_SLOTS_ENV, "")
    application = bootstrap()
    application.key_ring()  # no key, no server: links could be neither signed nor checked (NoSecretKey says how)
    app = create_app(application, write_slots=int(slots) if slots.isdigit() and int(slots) > 0 else None)
    if os.environ.get(EMBEDDED_WORKER_ENV, "1") == "1":
        _embed_worker(app, application)
    freeze_startup_heap()  # full collections skip the start-up heap (touchflow/heap.py)
    return app


def _embed_worker(app: FastAPI, application: Application) -> None:
    worker = application.worker(idle_sleep=0.02)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(asgi: FastAPI) -> AsyncIterator[Any]:
        thread = worker.start_in_thread()
        try:
            async with inner(asgi) as state:
                yield state
        finally:
            worker.stop.set()
            thread.join(timeout=30)

    app.router.lifespan_context = lifespan


def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    access_log: Annotated[bool, typer.Option(help="log every request")] = False,
    write_slots: Annotated[int | None, typer.Option(min=1, help="write transactions at once per worker "
                                                               "(default 1; scale with --workers)")] = None,
    embedded_worker: Annotated[bool, typer.Option("--worker/--no-worker", help="run the journey runtime in "
                                                  "this process too (off when you run `touchflow worker`s)")] = True,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs). The database is TOUCHFLOW_DATABASE_URL; its schema is
    created or upgraded first."""
    import uvicorn

    from touchflow.api.access_log import log_config
    from touchflow.cli.common import open_app

    with open_app() as application:  # migrate once, before workers start
        url = make_url(application.settings.database_url).render_as_string(hide_password=True)
        require_secret_key(application)
    if workers > 1 and url.startswith("sqlite"):
        console.print("[yellow]note:[/yellow] SQLite has one writer; extra workers help reads, not ingest")
    console.print(f"serving on http://{host}:{port} (docs: /docs), database {url}")
    if write_slots is not None:
        os.environ[WRITE_SLOTS_ENV] = str(write_slots)  # read by asgi_app in each worker
    os.environ[EMBEDDED_WORKER_ENV] = "1" if embedded_worker else "0"
    try:
        uvicorn.run("touchflow.cli.serve:asgi_app", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, access_log=access_log, log_config=log_config())
    except OSError as exc:
        fail(f"cannot serve on {host}:{port}: {exc}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
