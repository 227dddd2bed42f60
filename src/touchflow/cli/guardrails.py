"""``touchflow guardrails show|set``, ``touchflow suppression list|add|remove`` and
``touchflow contact freeze|unfreeze`` (attached to the contact group, where operators look for them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from touchflow.cli.common import (
    CsvOpt,
    console,
    emit_rows,
    err_console,
    fail,
    load_document,
    local_actor,
    local_time,
    open_app,
    print_json,
    workspace_zone,
)
from touchflow.cli.contacts import contact_app
from touchflow.domain.errors import FieldError
from touchflow.domain.guardrails.model import policy_document
from touchflow.services.channels import current_guardrail_policy, list_suppressions, normalise_address
from touchflow.services.contacts import ContactNotFound
from touchflow.services.guarding import (
    NotFrozen,
    freeze_contact,
    lift_freeze,
    set_guardrail_policy,
    suppress_address,
    unsuppress_address,
)

__all__ = ["register"]

guardrails_app = typer.Typer(help="The workspace's guardrail policy: caps, quiet hours, fatigue, consent.",
                             no_args_is_help=True)
suppression_app = typer.Typer(help="Addresses that must never be sent to (unsubscribes, hard bounces, by hand).",
                              no_args_is_help=True)


@guardrails_app.command("show")
def guardrails_show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The policy in force (the defaults until one is set)."""
    with open_app() as application:
        document = policy_document(current_guardrail_policy(application.services))
    if as_json:
        print_json(document)
        return
    console.print(yaml.safe_dump(document, allow_unicode=True, sort_keys=False).rstrip())


@guardrails_app.command("set")
def guardrails_set(file: Annotated[Path, typer.Argument(help="policy fields as YAML or JSON (see `guardrails show`)")],
                   replace: Annotated[bool, typer.Option("--replace", help="replace the whole policy: fields the "
                                                         "file does not name go back to the defaults")] = False,
                   as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Change the fields the file names; the others keep their value. An unknown or bad field is refused
    with its name (and the likely meant one); nothing changes then."""
    document = load_document(file, "the policy (cap, quiet_hours, fatigue, consent_required, default_timezone)")
    with open_app() as application:
        try:
            change = set_guardrail_policy(application.services, document, actor=local_actor().label, replace=replace)
        except ValueError as exc:
            fail(str(exc))
    for warning in change.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {warning}")
    if as_json:
        print_json({"policy": policy_document(change.policy), "warnings": change.warnings,
                    "changed": {k: {"before": b, "after": a} for k, (b, a) in change.changed.items()}})
        return
    if not change.changed:
        console.print("guardrails unchanged (策略未变)")
    for path, (before, after) in change.changed.items():
        console.print(f"{path}: {before!r} → {after!r}")
    policy = change.policy
    console.print(f"guardrails set: at most {policy.cap.per_day} touches a day, quiet hours "
                  f"{policy.quiet.start:%H:%M}–{policy.quiet.end:%H:%M} ({policy.default_timezone})")


@suppression_app.command("list")
def suppression_list(channel: Annotated[str | None, typer.Option(help="email, sms, …")] = None,
                     limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
                     as_json: Annotated[bool, typer.Option("--json")] = False, as_csv: CsvOpt = False) -> None:
    """The suppression list, newest first (addresses in full: this list is for the people who keep it)."""
    with open_app() as application:
        rows = list_suppressions(application.services, channel, limit)
        zone = workspace_zone(application)
    data: list[dict[str, Any]] = [{"channel": s.channel, "address": s.address, "reason": s.reason,
                                   "source": s.source, "at": s.at} for s in rows]
    if emit_rows(data, ["channel", "address", "reason", "source", "at"], as_json=as_json, as_csv=as_csv, zone=zone):
        return
    table = Table("channel", "address", "reason", "source", f"at ({zone.key})")
    for row in data:
        table.add_row(*(str(row[k]) for k in ("channel", "address", "reason", "source")), local_time(row["at"], zone))
    console.print(table)


@suppression_app.command("add")
def suppression_add(channel: str, address: str,
                    reason: Annotated[str, typer.Option(help="why, e.g. manual, complaint")] = "manual") -> None:
    with open_app() as application:
        try:
            clean = normalise_address(channel, address)
        except FieldError as exc:
            fail(str(exc))
        suppress_address(application.services, channel, clean, reason, actor=local_actor().label)
    console.print(f"suppressed {channel}:{clean}")


@suppression_app.command("remove")
def suppression_remove(channel: str, address: str) -> None:
    with open_app() as application:
        try:
            clean = normalise_address(channel, address)
        except FieldError as exc:
            fail(str(exc))
        if not unsuppress_address(application.services, channel, clean, actor=local_actor().label):
            fail(f"{channel}:{clean} is not suppressed", code=1)
    console.print(f"removed {channel}:{clean} from the suppression list")


def contact_freeze(ref: Annotated[str, typer.Argument(help="email:…, phone:…, crm:… or a contact id")],
                   reason: Annotated[str, typer.Option(help="what the complaint was")]) -> None:
    """Freeze every automated touch to a contact (a complaint by phone, say) and open a service task due in 2 h."""
    if not reason.strip():
        fail("--reason: say what the complaint was")
    with open_app() as application:
        try:
            freeze = freeze_contact(application.services, ref, reason.strip(), actor=local_actor().label)
        except ContactNotFound as exc:
            fail(str(exc), code=1)
    console.print(f"frozen {ref}; service task {freeze.task_id}" if freeze else f"{ref} was already frozen")


def contact_unfreeze(ref: Annotated[str, typer.Argument(help="email:…, phone:…, crm:… or a contact id")],
                     reason: Annotated[str, typer.Option(help="why the freeze can be lifted")]) -> None:
    """Lift a complaint freeze. Only a person does this (the OS account running the command), and says why
    (kept with the freeze and audited)."""
    with open_app() as application:
        try:
            lifted = lift_freeze(application.services, ref, by=local_actor().label, reason=reason)
        except ContactNotFound as exc:
            fail(str(exc), code=1)
        except NotFrozen as exc:
            fail(str(exc), code=1)
        except ValueError as exc:
            fail(str(exc))
    console.print(f"freeze lifted for {ref} by {lifted.lifted_by}")


def register(app: typer.Typer) -> None:
    app.add_typer(guardrails_app, name="guardrails")
    app.add_typer(suppression_app, name="suppression")
    contact_app.command("freeze")(contact_freeze)
    contact_app.command("unfreeze")(contact_unfreeze)
