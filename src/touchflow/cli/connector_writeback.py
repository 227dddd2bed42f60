"""``touchflow connector writeback NAME`` (the error report) and ``touchflow connector dead-letters NAME`` (list,
``--retry``/``--retry-all``, ``--discard``/``--discard-all``): write-back to the CRM, issue 14 P1."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from touchflow.cli.common import console, fail, local_actor, open_app, print_json
from touchflow.cli.connectors import connector_app
from touchflow.services.connectors import ConnectorNotFound, get_connector
from touchflow.services.writeback import dead_letters, discard_dead_letters, retry_dead_letters, writeback_report

__all__ = ["register"]

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
NameArg = Annotated[str, typer.Argument(help="the connector's name")]
IdsOpt = Annotated[list[int] | None, typer.Option(help="a dead letter's id (repeat for several)")]


@connector_app.command("writeback")
def report(name: NameArg, json_: JsonOpt = False) -> None:
    """回写报告 Write-back report: changes by status and the latest failures."""
    with open_app() as app:
        try:
            get_connector(app.services, name)
        except ConnectorNotFound as exc:
            fail(str(exc))
        found = writeback_report(app.services, name)
    if json_:
        print_json(found.to_json())
        return
    counts = ", ".join(f"{k} {v}" for k, v in sorted(found.counts.items())) or "none"
    console.print(f"{name}: {counts}")
    for row in found.recent_errors:
        console.print(f"  #{row.id} {row.field} ({row.status}, {row.attempts} attempts): {row.last_error}")


@connector_app.command("dead-letters")
def dead(name: NameArg, retry: IdsOpt = None, discard: IdsOpt = None,
         retry_all: Annotated[bool, typer.Option("--retry-all", help="requeue every dead letter")] = False,
         discard_all: Annotated[bool, typer.Option("--discard-all", help="drop every dead letter")] = False,
         json_: JsonOpt = False) -> None:
    """死信 Dead letters: write-backs that failed for good; requeue them (after fixing the cause) or drop them."""
    chosen = [bool(retry), bool(discard), retry_all, discard_all]
    if sum(chosen) > 1:
        fail("choose one of --retry, --retry-all, --discard, --discard-all")
    actor = local_actor().label
    result: dict[str, Any] = {"connector": name}
    with open_app() as app:
        try:
            get_connector(app.services, name)
        except ConnectorNotFound as exc:
            fail(str(exc))
        if retry or retry_all:
            result["requeued"] = retry_dead_letters(app.services, name, None if retry_all else retry, actor=actor)
        elif discard or discard_all:
            result["discarded"] = discard_dead_letters(app.services, name, None if discard_all else discard,
                                                       actor=actor)
        result["dead_letters"] = dead_letters(app.services, name)
    if json_:
        print_json(result)
        return
    for key in ("requeued", "discarded"):
        if key in result:
            console.print(f"{key}: {result[key]}")
    table = Table("id", "contact", "field", "attempts", "error")
    for row in result["dead_letters"]:
        table.add_row(str(row["id"]), row["contact_id"], row["field"], str(row["attempts"]), row["last_error"] or "")
    console.print(table)


def register(app: typer.Typer) -> None:
    """The commands join ``touchflow connector`` (registered by ``cli.connectors``) when this module is imported."""
    del app
