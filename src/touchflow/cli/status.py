"""``touchflow status``: the workers' load and each queue's lag (A8 capacity)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from touchflow.cli.common import console, open_app, print_json, workspace_zone
from touchflow.services.capacity import cluster_status

__all__ = ["register"]


def status(json_: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Live workers (reported within two minutes): busy share, queue lag; and how many workers to add."""
    with open_app() as application:
        found = cluster_status(application.services)
        zone = workspace_zone(application)
    if json_:
        print_json(found.to_json())
        return
    table = Table("worker", "host", "pid", "busy", "reported", "lag outbox / timers / inbox (s)")
    for w in found.workers:
        lag = " / ".join(f"{w.queue_lag.get(q, 0.0):.1f}" for q in ("outbox", "timers", "inbox"))
        table.add_row(w.worker_id, w.host, str(w.pid), f"{w.busy_share:.0%}",
                      w.reported_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"), lag)
    console.print(table)
    lag = ", ".join(f"{q} {s:.1f}s" for q, s in found.queue_lag.items())
    console.print(f"{len(found.workers)} live worker(s), {found.busy_share:.0%} busy; queue lag now: {lag}")
    if found.add:
        console.print(f"[yellow]above the capacity limit: add {found.add} worker(s)[/yellow]")


def register(app: typer.Typer) -> None:
    app.command("status")(status)
