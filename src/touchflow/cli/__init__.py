"""The ``touchflow`` command: parse, call a service, render. Each command group is its own module."""

from __future__ import annotations

import typer

from touchflow.cli import (
    admin,
    approvals,
    assets,
    channels,
    contacts,
    content,
    demo,
    exports,
    guardrails,
    imports,
    journeys,
    lifecycle,
    metrics,
    personas,
    reports,
    secrets,
    segments,
    serve,
    simulate,
    sites,
    tasks,
    users,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="touchflow",
    help="Touchflow: open-source marketing automation (unified customer data, journeys, guardrails).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Settings come from the environment: TOUCHFLOW_DATABASE_URL (default: ./touchflow.db, SQLite)."""


for module in (admin, imports, contacts, journeys, simulate, serve, demo, content, assets, channels, guardrails, tasks,
               personas, segments, lifecycle, sites, secrets, users, approvals, exports, reports,
               metrics):
    module.register(app)


def main() -> None:
    app()
