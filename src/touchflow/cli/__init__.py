"""The ``touchflow`` command: parse, call a service, render. Each command group is its own module."""

from __future__ import annotations

import typer

from touchflow.cli import (
    admin,
    alerts,
    approvals,
    assets,
    attribution,
    audit,
    channels,
    connector_writeback,
    connectors,
    contacts,
    content,
    demo,
    experiments,
    exports,
    guardrails,
    imports,
    incidents,
    journeys,
    keys,
    lifecycle,
    metrics,
    personas,
    privacy,
    reports,
    retention,
    secrets,
    segments,
    serve,
    simulate,
    sites,
    status,
    tasks,
    users,
)
from touchflow.cli.common import err_console
from touchflow.security.crypto import SecretError
from touchflow.security.pii import PiiError
from touchflow.security.request_context import RequestContext, new_request_id, set_request

__all__ = ["app", "main"]

app = typer.Typer(
    name="touchflow",
    help="Touchflow: open-source marketing automation (unified customer data, journeys, guardrails).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(ctx: typer.Context) -> None:
    """Settings come from the environment: TOUCHFLOW_DATABASE_URL (default: ./touchflow.db, SQLite)."""
    set_request(RequestContext(new_request_id("cli-")))  # one command, one request id in its audit rows
    ctx.call_on_close(lambda: set_request(None))  # an embedding process (tests) is not left with it


for module in (admin, imports, contacts, journeys, simulate, serve, demo, content, assets, channels, guardrails, tasks,
               personas, segments, lifecycle, sites, secrets, users, approvals, exports, privacy, incidents,
               audit, keys, attribution, metrics, alerts, experiments, reports, connectors,
               connector_writeback, status, retention):
    module.register(app)


def main() -> None:
    """Run the command; a key that is missing or does not open is a clear error (exit 2), not a traceback: on a
    database whose personal data is encrypted, every command needs the key ring."""
    try:
        app(standalone_mode=True)
    except (SecretError, PiiError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise SystemExit(2) from None
