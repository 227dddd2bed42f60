"""``touchflow contact show|search|duplicates|merge|tag``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from touchflow.cli.common import (
    CsvOpt,
    console,
    emit_rows,
    fail,
    id_column,
    local_actor,
    local_time,
    open_app,
    print_json,
    who,
    workspace_zone,
)
from touchflow.services.contacts import (
    ContactNotFound,
    contact_labels,
    get_contact_profile,
    merge_contacts,
    patch_contact,
    profile_document,
    search_contacts,
    suggest_duplicates,
)
from touchflow.services.privacy import consent_document, consent_history
from touchflow.services.unmerge import NothingToUnmerge, unmerge_contact

__all__ = ["register"]

contact_app = typer.Typer(help="Look up and edit contacts.", no_args_is_help=True)


@contact_app.command("show")
def show(
    identifier: Annotated[str, typer.Argument(help="email:…, phone:…, crm:…, anon:…, openid:… or a contact id")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Everything known about one contact: identities, attributes with sources, tags, consent, a complaint
    freeze and its reason, events, merges. Times are in the workspace's zone."""
    with open_app() as application:
        try:
            profile = get_contact_profile(application.services, identifier)
            ledger = consent_history(application.services, profile.state.id)
        except ContactNotFound as exc:
            fail(str(exc), code=1)
        zone = workspace_zone(application)
    data = profile_document(profile)
    data["consent_history"] = consent_document(ledger)  # every grant and withdrawal (PIPL), oldest first
    if as_json:
        print_json(data)
        return
    console.print(f"[bold]Contact {data['id']}[/bold]  stage: {data['lifecycle_stage'] or '—'}  "
                  f"events: {data['event_count']}")
    frozen = data["frozen"]
    if frozen:
        console.print(f"[red]FROZEN 已冻结[/red] since {local_time(frozen['frozen_at'], zone)}: {frozen['reason']} "
                      f"(service task {frozen['task_id'] or '—'}; lift with `touchflow contact unfreeze`)")
    for lifted in (f for f in data["freezes"] if f["lifted_at"] is not None):
        console.print(f"freeze of {local_time(lifted['frozen_at'], zone)} ({lifted['reason']}) lifted "
                      f"{local_time(lifted['lifted_at'], zone)} by {lifted['lifted_by']}: {lifted['lift_reason']}")
    table = Table("identity", "source", title="Identities")
    for ident in data["identities"]:
        table.add_row(f"{ident['kind']}:{ident['value']}", ident["source"])
    console.print(table)
    attrs = Table("field", "value", "source", f"set at ({zone.key})", title="Attributes")
    for name, value in {**data["attributes"], **{f"custom.{k}": v for k, v in data["custom"].items()}}.items():
        stamp = data["lineage"].get(name, {})
        at = stamp.get("at")
        attrs.add_row(name, str(value), stamp.get("source", ""), local_time(at, zone) if isinstance(at, datetime)
                      else str(at or ""))
    console.print(attrs)
    console.print("Tags: " + (", ".join(f"{t['tag']} ({t['set_by']})" for t in data["tags"]) or "—"))
    console.print("Consent: " + (", ".join(f"{c}={v['status']}" for c, v in data["consent"].items()) or "—"))
    for entry in data["consent_history"]:
        console.print(f"  {local_time(entry['at'], zone)}  {entry['channel']} {entry['status']} ({entry['source']})")
    if data["recent_events"]:
        events = Table(f"occurred ({zone.key})", "type", "source", title="Recent events")
        for e in data["recent_events"]:
            events.add_row(local_time(e["occurred_at"], zone), e["type"], e["source"])
        console.print(events)
    for merge in data["merges"]:
        undone = (f" — unmerged at {local_time(merge['undone_at'], zone)} by {merge['undone_by']}"
                  if merge["undone_at"] else f" (undo: touchflow contact unmerge {merge['merged']} --reason …)")
        at = local_time(merge["at"], zone)
        if merge["merged"] == data["id"]:
            console.print(f"was merged into {merge['into']} at {at} via {merge['linked_by']}{undone}")
        else:
            console.print(f"merged {merge['merged']} at {local_time(merge['at'], zone)} via {merge['linked_by']} "
                          f"({len(merge['conflicts'])} field conflicts){undone}")


@contact_app.command("search")
def search(
    text: Annotated[str | None, typer.Argument(help="identifier value, or part of a name or company")] = None,
    tag: Annotated[str | None, typer.Option(help="only contacts with this tag")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    as_csv: CsvOpt = False,
) -> None:
    """Find contacts by identifier, name, company or tag."""
    with open_app() as application:
        states = search_contacts(application.services, text, tag, limit)
        labels = contact_labels(application.services, [s.id for s in states])
        zone = workspace_zone(application)
    rows: list[dict[str, Any]] = [{**labels[s.id].document(), "company": s.values.get("company"),
                                   "city": s.values.get("city"), "tags": sorted(s.tags)} for s in states]
    if emit_rows(rows, ["contact_id", "name", "phone", "email", "company", "city", "tags"], as_json=as_json,
                 as_csv=as_csv, zone=zone):
        return
    table = Table(title=f"{len(rows)} contacts")
    id_column(table)
    table.add_column("name / company", overflow="fold", max_width=14)
    table.add_column("phone / email", overflow="fold", min_width=15)
    table.add_column("tags", overflow="fold")
    for r in rows:
        place = " · ".join(str(r[k]) for k in ("company", "city") if r[k])
        table.add_row(r["contact_id"], f"{r['name'] or '—'}\n{place}".rstrip(), who(r), ", ".join(r["tags"]))
    console.print(table)


@contact_app.command("duplicates")
def duplicates(
    limit: Annotated[int, typer.Option(min=1)] = 50,
    threshold: Annotated[float, typer.Option(min=50, max=100, help="similarity % for name and company")] = 88.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    as_csv: CsvOpt = False,
) -> None:
    """Likely duplicates for a person to confirm with `contact merge` (never merged automatically)."""
    with open_app() as application:
        found = suggest_duplicates(application.services, limit, threshold)
        labels = contact_labels(application.services, [c for s in found for c in (s.first, s.second)])
        zone = workspace_zone(application)
    rows: list[dict[str, Any]] = []
    for s in found:
        first, second = labels[s.first], labels[s.second]
        rows.append({"first": s.first, "first_name": first.name, "first_phone": first.phone,
                     "first_email": first.email, "second": s.second, "second_name": second.name,
                     "second_phone": second.phone, "second_email": second.email, "score": s.score,
                     "reason": s.reason})
    if emit_rows(rows, list(rows[0]) if rows else ["first", "first_name", "first_phone", "first_email", "second",
                                                    "second_name", "second_phone", "second_email", "score",
                                                    "reason"], as_json=as_json, as_csv=as_csv, zone=zone):
        return
    table = Table(title=f"{len(found)} suggested duplicates (merge with: touchflow contact merge ID ID)")
    id_column(table, "contact ids")
    table.add_column("who", overflow="fold", min_width=15)
    for header in ("score", "why"):
        table.add_column(header, overflow="fold")
    for r in rows:
        names = [f"{r[f'{side}_name'] or '—'}\n{who(r, f'{side}_')}" for side in ("first", "second")]
        table.add_row(f"{r['first']}\n\n\n{r['second']}", "\n".join(names), f"{r['score']:.1f}", r["reason"])
    console.print(table)


@contact_app.command("merge")
def merge(
    first: Annotated[str, typer.Argument(help="a contact id or identifier")],
    second: Annotated[str, typer.Argument(help="the other contact")],
    reason: Annotated[str, typer.Option(help="why they are one person")] = "confirmed duplicate",
) -> None:
    """Merge two contacts a person has confirmed are one; the older one survives, nothing is lost."""
    with open_app() as application:
        try:
            survivor = merge_contacts(application.services, first, second, actor=local_actor().label, reason=reason)
        except ContactNotFound as exc:
            fail(str(exc), code=1)
    console.print(f"merged into {survivor}")


@contact_app.command("unmerge")
def unmerge(
    merged_id: Annotated[str, typer.Argument(help="the merged-away contact's id (the survivor's `contact show` "
                                                  "lists its merges)")],
    reason: Annotated[str, typer.Option(help="why the merge was wrong (kept in the audit log)")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Undo a wrong merge: the merged-away contact gets back its identities, events, tags, consents and the
    values that came from it; both are rescored; journeys stay with the survivor. You act as your OS account."""
    actor = local_actor()
    with open_app() as application:
        try:
            result = unmerge_contact(application.services, merged_id, actor=actor, reason=reason)
        except NothingToUnmerge as exc:
            fail(str(exc), code=1)
        except ValueError as exc:
            fail(str(exc))
    if as_json:
        print_json({"survivor": result.survivor, "restored": result.restored, "identities": result.identities,
                    "events": result.events, "returned": result.returned})
        return
    console.print(f"{result.restored} is its own contact again: {result.identities} identities and "
                  f"{result.events} events went back from {result.survivor}"
                  + (f"; values back: {', '.join(result.returned)}" if result.returned else ""))


@contact_app.command("tag")
def tag(
    identifier: Annotated[str, typer.Argument()],
    add: Annotated[list[str] | None, typer.Option("--add", help="tag to add")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="tag to remove")] = None,
    reason: Annotated[str, typer.Option()] = "",
) -> None:
    """Add or remove tags by hand (D5); recorded in the audit log."""
    with open_app() as application:
        try:
            state = patch_contact(application.services, identifier, actor=local_actor().label, add_tags=add or [],
                                  remove_tags=remove or [], reason=reason)
        except ContactNotFound as exc:
            fail(str(exc), code=1)
    console.print("tags: " + ", ".join(sorted(state.tags)))


def register(app: typer.Typer) -> None:
    app.add_typer(contact_app, name="contact")
