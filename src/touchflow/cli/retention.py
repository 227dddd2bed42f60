"""``touchflow retention``: how long finished rows are kept, and a purge now (ADR 0048)."""

from __future__ import annotations

from typing import Annotated

import typer

from touchflow.cli.common import console, fail, local_actor, open_app, print_json
from touchflow.domain.errors import FieldError
from touchflow.services.retention import purge, retention_policy, set_retention_policy

__all__ = ["register"]

retention_app = typer.Typer(help="How long finished rows are kept (events, outbox, run steps …).",
                            no_args_is_help=True)


@retention_app.command("show")
def show(json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The policy in force: days per kind (null: kept forever)."""
    with open_app() as application:
        policy = retention_policy(application.services)
    if json_:
        print_json(policy.to_json())
        return
    for kind, days in policy.to_json().items():
        console.print(f"{kind:10} {'kept forever' if days is None else f'{days} days'}")


@retention_app.command("set")
def set_(kinds: Annotated[list[str], typer.Argument(help="kind=days or kind=forever, e.g. events=365")]) -> None:
    """Change the days of one or more kinds (an audit row records before and after)."""
    document: dict[str, int | None] = {}
    for item in kinds:
        kind, sep, value = item.partition("=")
        if not sep:
            fail(f"{item!r}: expected kind=days (e.g. outbox=400) or kind=forever")
        if value == "forever":
            document[kind] = None
        elif value.isdigit():
            document[kind] = int(value)
        else:
            fail(f"{kind}: {value!r} is not a whole number of days or 'forever'")
    with open_app() as application:
        try:
            policy = set_retention_policy(application.services, document, actor=local_actor().label)
        except FieldError as exc:
            fail(str(exc))
    print_json(policy.to_json())


@retention_app.command("run")
def run(json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Delete finished rows past the policy now (the worker does this every six hours)."""
    with open_app() as application:
        gone = purge(application.services)
    if json_:
        print_json(gone)
        return
    for kind, count in gone.items():
        console.print(f"{kind:10} {count} row(s) deleted")


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")
