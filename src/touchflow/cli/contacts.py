"""``touchflow contact show|search|duplicates|merge|tag``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from touchflow.cli.common import console, fail, local_actor, open_app, print_json
from touchflow.services.contacts import (
    ContactNotFound,
    get_contact_profile,
    merge_contacts,
    patch_contact,
    profile_document,
    search_contacts,
    suggest_duplicates,
)
from touchflow.services.unmerge import NothingToUnmerge, unmerge_contact

__all__ = ["register"]

contact_app = typer.Typer(help="Look up and edit contacts.", no_args_is_help=True)


@contact_app.command("show")
def show(
    identifier: Annotated[str, typer.Argument(help="email:…, phone:…, crm:…, anon:…, openid:… or a contact id")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Everything known about one contact: identities, attributes with sources, tags, consent, events, merges."""
    with open_app() as application:
        try:
            profile = get_contact_profile(application.services, identifier)
        except ContactNotFound as exc:
            fail(str(exc), code=1)
    data = profile_document(profile)
    if as_json:
        print_json(data)
        return
    console.print(f"[bold]Contact {data['id']}[/bold]  stage: {data['lifecycle_stage'] or '—'}  "
                  f"events: {data['event_count']}")
    table = Table("identity", "source", title="Identities")
    for ident in data["identities"]:
        table.add_row(f"{ident['kind']}:{ident['value']}", ident["source"])
    console.print(table)
    attrs = Table("field", "value", "source", "set at", title="Attributes")
    for name, value in {**data["attributes"], **{f"custom.{k}": v for k, v in data["custom"].items()}}.items():
        stamp = data["lineage"].get(name, {})
        attrs.add_row(name, str(value), stamp.get("source", ""), str(stamp.get("at", "")))
    console.print(attrs)
    console.print("Tags: " + (", ".join(f"{t['tag']} ({t['set_by']})" for t in data["tags"]) or "—"))
    console.print("Consent: " + (", ".join(f"{c}={v['status']}" for c, v in data["consent"].items()) or "—"))
    if data["recent_events"]:
        events = Table("occurred", "type", "source", title="Recent events")
        for e in data["recent_events"]:
            events.add_row(str(e["occurred_at"]), e["type"], e["source"])
        console.print(events)
    for merge in data["merges"]:
        undone = (f" — unmerged at {merge['undone_at']} by {merge['undone_by']}" if merge["undone_at"] else
                  f" (undo: touchflow contact unmerge {merge['merged']} --reason …)")
        if merge["merged"] == data["id"]:
            console.print(f"was merged into {merge['into']} at {merge['at']} via {merge['linked_by']}{undone}")
        else:
            console.print(f"merged {merge['merged']} at {merge['at']} via {merge['linked_by']} "
                          f"({len(merge['conflicts'])} field conflicts){undone}")


@contact_app.command("search")
def search(
    text: Annotated[str | None, typer.Argument(help="identifier value, or part of a name or company")] = None,
    tag: Annotated[str | None, typer.Option(help="only contacts with this tag")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Find contacts by identifier, name, company or tag."""
    with open_app() as application:
        states = search_contacts(application.services, text, tag, limit)
    if as_json:
        print_json([{"id": s.id, "name": s.values.get("name"), "company": s.values.get("company"),
                     "city": s.values.get("city"), "tags": sorted(s.tags)} for s in states])
        return
    table = Table("id", "name", "company", "city", "tags")
    for s in states:
        table.add_row(s.id, *(str(s.values.get(f, "")) for f in ("name", "company", "city")),
                      ", ".join(sorted(s.tags)))
    console.print(table)


@contact_app.command("duplicates")
def duplicates(
    limit: Annotated[int, typer.Option(min=1)] = 50,
    threshold: Annotated[float, typer.Option(min=50, max=100, help="similarity % for name and company")] = 88.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Likely duplicates for a person to confirm with `contact merge` (never merged automatically)."""
    with open_app() as application:
        found = suggest_duplicates(application.services, limit, threshold)
    if as_json:
        print_json([{"first": s.first, "second": s.second, "score": s.score, "reason": s.reason} for s in found])
        return
    table = Table("first", "second", "score", "why", title=f"{len(found)} suggested duplicates")
    for s in found:
        table.add_row(s.first, s.second, f"{s.score:.1f}", s.reason)
    console.print(table)


@contact_app.command("merge")
def merge(
    first: Annotated[str, typer.Argument(help="a contact id or identifier")],
    second: Annotated[str, typer.Argument(help="the other contact")],
    reason: Annotated[str, typer.Option(help="why they are one person")] = "confirmed duplicate",
    actor: Annotated[str, typer.Option(help="who confirms")] = "cli",
) -> None:
    """Merge two contacts a person has confirmed are one; the older one survives, nothing is lost."""
    with open_app() as application:
        try:
            survivor = merge_contacts(application.services, first, second, actor=actor, reason=reason)
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
    actor: Annotated[str, typer.Option()] = "cli",
) -> None:
    """Add or remove tags by hand (D5); recorded in the audit log."""
    with open_app() as application:
        try:
            state = patch_contact(application.services, identifier, actor=actor, add_tags=add or [],
                                  remove_tags=remove or [], reason=reason)
        except ContactNotFound as exc:
            fail(str(exc), code=1)
    console.print("tags: " + ", ".join(sorted(state.tags)))


def register(app: typer.Typer) -> None:
    app.add_typer(contact_app, name="contact")
