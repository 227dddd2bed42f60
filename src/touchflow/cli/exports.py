"""``touchflow export request|download`` and ``touchflow contact delete``: operations on personal data that a
second person approves (P4) before they happen. You act as your operating-system account."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from touchflow.cli.approvals import approval_json, guarded
from touchflow.cli.common import console, fail, local_actor, open_app, print_json
from touchflow.cli.contacts import contact_app
from touchflow.services.approval_kinds import request_contacts_delete
from touchflow.services.exports import download_export, request_export

__all__ = ["register"]

export_app = typer.Typer(help="Exports of personal data: requested, approved by a second person, downloaded once.",
                         no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on standard output.")]


@export_app.command("request")
def request(
    what: Annotated[str, typer.Argument(help="contacts or segment")],
    name: Annotated[str | None, typer.Argument(help="the segment key (with `segment`)")] = None,
    reason: Annotated[str, typer.Option(help="why (the approver decides on it)")] = "",
    fmt: Annotated[str, typer.Option("--format", help="csv, xlsx or json")] = "csv",
    fields: Annotated[str | None, typer.Option(help="comma-separated, e.g. name,email,phone,custom.vip")] = None,
    tag: Annotated[str | None, typer.Option(help="only contacts with this tag")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask for an export; another administrator approves it (`touchflow approval approve ID`), then
    `touchflow export download ID --out FILE` (you, within 24 h)."""
    if what not in ("contacts", "segment"):
        fail(f"what: contacts or segment, got {what!r}")
    if (what == "segment") != (name is not None):
        fail("name: give a segment key with `segment`, and none with `contacts`")
    chosen = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    with open_app() as application:
        made = guarded(lambda: request_export(application.services, local_actor(), source=what, segment=name,
                                              tag=tag, fmt=fmt, fields=chosen, reason=reason))
    if as_json:
        print_json(approval_json(made))
        return
    console.print(f"export request {made.id} is waiting for another administrator's approval")


@export_app.command("download")
def download(
    request_id: Annotated[str, typer.Argument()],
    out: Annotated[Path, typer.Option("--out", help="the file to write (must not exist)")],
    as_json: JsonOpt = False,
) -> None:
    """Write an approved export to a new file (mode 0600). Only the account that asked may; audited."""
    if out.exists():
        fail(f"out: {out} exists; choose a new file")
    with open_app() as application:
        got = guarded(lambda: download_export(application.services, local_actor(), request_id))
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(got.data)
    except OSError as exc:
        fail(f"out: {out}: {exc.strerror or exc}")
    if as_json:
        print_json({"request_id": got.request_id, "file": str(out), "name": got.name, "bytes": len(got.data)})
        return
    console.print(f"wrote {out} ({len(got.data)} bytes; watermarked {got.request_id})")


def delete(
    refs: Annotated[list[str] | None, typer.Argument(help="contact ids, email:…, phone:…")] = None,
    segment: Annotated[str | None, typer.Option(help="every member of this segment")] = None,
    reason: Annotated[str, typer.Option(help="why (the approver decides on it)")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Ask to delete contacts for good; another administrator approves (`touchflow approval approve ID`)."""
    with open_app() as application:
        made = guarded(lambda: request_contacts_delete(application.services, local_actor(), segment=segment,
                                                       contacts=list(refs or []), reason=reason))
    if as_json:
        print_json(approval_json(made))
        return
    console.print(f"deletion request {made.id} ({made.payload['count']} contact(s)) is waiting for another "
                  "administrator's approval")


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
    contact_app.command("delete")(delete)
