"""``touchflow privacy``: PIPL requests — export a person's data, ask for an erasure (a second person approves),
opt a person out of personalised marketing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import orjson
import typer

from touchflow.cli.common import console, fail, local_actor, open_app, print_json
from touchflow.domain.errors import FieldError
from touchflow.services.contacts import ContactNotFound
from touchflow.services.incident_state import ExportsFrozen
from touchflow.services.privacy import export_person, request_erasure, set_personalisation

__all__ = ["register"]

privacy_app = typer.Typer(help="PIPL requests: export, erase (with approval), opt out of personalisation.",
                          no_args_is_help=True)


@privacy_app.command("export")
def export(ref: Annotated[str, typer.Argument(help="email:…, phone:…, crm:… or a contact id")],
           out: Annotated[Path | None, typer.Option("--out", help="write the JSON here (mode 0600)")] = None,
           json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Everything held about one person as JSON: identities, attributes and their sources, consent history,
    events, messages, tasks, journeys, merges, scores. Audited; refused while an incident freezes exports."""
    with open_app() as app:
        try:
            document = export_person(app.services, ref, actor=local_actor())
        except ContactNotFound as exc:
            fail(str(exc), code=1)
        except ExportsFrozen as exc:
            fail(str(exc))
    summary = {"contact_id": document["contact"]["id"], "events": len(document["events"]),
               "messages": len(document["messages"]), "consents": len(document["consent_history"]),
               "file": str(out) if out else None}
    if out is not None:
        data = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except OSError as exc:
            fail(f"{out}: {exc.strerror or exc}")
        if json_:
            print_json(summary)
        else:
            console.print(f"exported {summary['contact_id']} to {out}: {summary['events']} events, "
                          f"{summary['messages']} messages, {summary['consents']} consent statements")
        return
    print_json(document)  # without --out the document itself is the output (JSON either way)


@privacy_app.command("erase")
def erase(ref: Annotated[str, typer.Argument(help="email:…, phone:…, crm:… or a contact id")],
          reason: Annotated[str, typer.Option(help="the request this answers (e.g. ticket number)")],
          json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Ask for a person's data to be erased; another person with privacy.manage approves, then it runs: PII
    removed, events kept anonymised, identifiers kept only as blind-index tombstones (no re-import)."""
    with open_app() as app:
        try:
            request = request_erasure(app.services, ref, actor=local_actor(), reason=reason)
        except ContactNotFound as exc:
            fail(str(exc), code=1)
        except FieldError as exc:
            fail(f"{exc.field}: {exc.reason}")
    if json_:
        print_json({"request_id": request.id, "kind": request.kind, "state": request.state,
                    "expires_at": request.expires_at})
        return
    console.print(f"erasure requested: {request.id} — another person with privacy.manage approves it: "
                  f"touchflow approval approve {request.id}")


@privacy_app.command("opt-out")
def opt_out(ref: Annotated[str, typer.Argument(help="email:…, phone:…, crm:… or a contact id")],
            undo: Annotated[bool, typer.Option("--undo", help="accept personalised marketing again")] = False,
            json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """PIPL Art. 24: no profiling-based marketing for this person (generic content, no recommendations, out of
    every segment or branch on a score or predicted attribute)."""
    with open_app() as app:
        try:
            opted_out = set_personalisation(app.services, ref, opted_out=not undo, actor=local_actor())
        except ContactNotFound as exc:
            fail(str(exc), code=1)
    if json_:
        print_json({"ref": ref, "personalisation": "opted_out" if opted_out else "allowed"})
        return
    console.print(f"{ref}: personalisation {'opted out' if opted_out else 'allowed'}")


def register(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy")
