"""``touchflow incident``: breach response (P7) — open (kill switch), the three clocks, affected people,
notices after approval, the timeline, resume, close, and the monthly drill."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from touchflow.bootstrap import open_sandbox
from touchflow.cli.common import console, fail, local_actor, local_time, open_app, print_json, workspace_zone
from touchflow.domain.errors import FieldError
from touchflow.engine.drill import run_drill
from touchflow.services.contacts import contact_labels
from touchflow.services.context import ServiceContext
from touchflow.services.incidents import (
    IncidentNotFound,
    IncidentView,
    affected_contacts,
    close_incident,
    draft_notifications,
    get_incident,
    incident_timeline,
    list_incidents,
    mark_step_done,
    open_incident,
    resume_sending,
)

__all__ = ["register"]

incident_app = typer.Typer(help="Security incidents: kill switch, clocks (1 h / 4 h / 24 h), notices, drills.",
                           no_args_is_help=True)
step_app = typer.Typer(help="Mark a clock's step done: isolate, report, notify.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json")]


def _print_view(view: IncidentView, zone: Any) -> None:
    i = view.incident
    console.print(f"[bold]incident {i.id}[/bold] {'(drill) ' if i.drill else ''}{i.status} — {i.summary}")
    console.print(f"opened {local_time(i.opened_at, zone)} by {i.opened_by}; kill switch "
                  f"{'[red]ON[/red] (no sending, no exports)' if view.kill_switch else 'off'}")
    if view.revoked:
        console.print("revoked: " + ", ".join(f"{n} {k}" for k, n in view.revoked.items()))
    table = Table("step", "due", "done", "state")
    for c in view.clocks:
        state = {"open": c.document()["left"], "overdue": f"[red]{c.document()['left']}[/red]",
                 "done": "done", "done_late": "[yellow]done late[/yellow]"}[c.state]
        table.add_row(c.step, local_time(c.due_at, zone), local_time(c.done_at, zone), state)
    console.print(table)


def _show(act: Callable[[ServiceContext], IncidentView], json_: bool) -> None:
    """Run one incident use case; print the incident (clocks with their zone) or its JSON. No such incident exits 1,
    a refused change 2."""
    with open_app() as app:
        try:
            view = act(app.services)
        except (IncidentNotFound, FieldError) as exc:
            _fail_on(exc)
        zone = workspace_zone(app)
    if json_:
        print_json(view.document())
        return
    _print_view(view, zone)


def _fail_on(exc: Exception) -> None:
    if isinstance(exc, IncidentNotFound):
        fail(str(exc), code=1)
    if isinstance(exc, FieldError):
        fail(f"{exc.field}: {exc.reason}")
    fail(str(exc))


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"--since: {text!r} is not an ISO 8601 time (e.g. 2026-03-02T08:00+08:00)")
    if moment.tzinfo is None:
        fail("--since: give a zone, e.g. 2026-03-02T08:00+08:00")
    return moment


@incident_app.command("open")
def open_(summary: Annotated[str, typer.Option(help="what happened, one line")],
          revoke_access: Annotated[bool, typer.Option("--revoke-access", help="revoke every API key and session")]
          = False,
          since: Annotated[str | None, typer.Option(help="when the breach may have begun: ISO 8601 with a zone, "
                                                          "e.g. 2026-03-02T08:00+08:00")] = None,
          segment: Annotated[str | None, typer.Option(help="a segment whose members count as affected")] = None,
          json_: JsonOpt = False) -> None:
    """Open an incident: all sending stops at once and exports freeze (kill switch); the clocks start."""
    began = _moment(since) if since is not None else None
    _show(lambda ctx: open_incident(ctx, actor=local_actor(), summary=summary, revoke_access=revoke_access,
                                    since=began, segment=segment), json_)


@incident_app.command("status")
def status(incident_id: str, json_: JsonOpt = False) -> None:
    """One incident: each clock with its deadline and the time left (or overdue), times with their zone."""
    _show(lambda ctx: get_incident(ctx, incident_id), json_)


@incident_app.command("list")
def list_(all_: Annotated[bool, typer.Option("--all", help="closed ones too")] = False, json_: JsonOpt = False) -> None:
    """Open incidents (or all), newest first, with their clocks."""
    with open_app() as app:
        views = list_incidents(app.services, None if all_ else "open")
        zone = workspace_zone(app)
    if json_:
        print_json([v.document() for v in views])
        return
    if not views:
        console.print("no incidents" + ("" if all_ else " open"))
    for view in views:
        _print_view(view, zone)


@step_app.command("done")
def step_done(incident_id: str, step: Annotated[str, typer.Argument(help="isolate, report or notify")],
              note: Annotated[str | None, typer.Option(help="what was done")] = None, json_: JsonOpt = False) -> None:
    """Stop one clock: the step was done now, by you."""
    _show(lambda ctx: mark_step_done(ctx, incident_id, step, actor=local_actor(), note=note), json_)


@incident_app.command("close")
def close(incident_id: str, json_: JsonOpt = False) -> None:
    """Close the incident (steps not done stay on the record as not done). The kill switch stays until resume."""
    _show(lambda ctx: close_incident(ctx, incident_id, actor=local_actor()), json_)


@incident_app.command("resume")
def resume(json_: JsonOpt = False) -> None:
    """Lift the kill switch: sending and exports resume (audited)."""
    with open_app() as app:
        incident_id = resume_sending(app.services, actor=local_actor())
    if json_:
        print_json({"resumed": incident_id is not None, "incident": incident_id})
        return
    console.print(f"kill switch lifted (incident {incident_id})" if incident_id else "the kill switch was off")


@incident_app.command("affected")
def affected(incident_id: str, json_: JsonOpt = False) -> None:
    """Who is affected: contacts read, exported or changed since the window start, and the segment's members."""
    with open_app() as app:
        try:
            ids = affected_contacts(app.services, incident_id)
        except IncidentNotFound as exc:
            _fail_on(exc)
        labels = contact_labels(app.services, ids[:500])
    if json_:
        print_json({"incident": incident_id, "count": len(ids), "contact_ids": ids})
        return
    console.print(f"{len(ids)} people affected")
    for cid in ids[:50]:
        label = labels.get(cid)
        console.print(f"  {cid}  {label.name if label and label.name else ''} "
                      f"{label.phone if label and label.phone else ''} {label.email if label and label.email else ''}")


@incident_app.command("notify")
def notify(incident_id: str,
           channel: Annotated[list[str] | None, typer.Option("--channel", help="sms, email, wecom, wechat")] = None,
           json_: JsonOpt = False) -> None:
    """Draft the notices (Chinese, one per channel) for everyone affected; they are queued once a second person
    approves (incident_notify) and go out when the kill switch is lifted."""
    with open_app() as app:
        try:
            request = draft_notifications(app.services, incident_id, actor=local_actor(),
                                          channels=tuple(channel or ("sms", "email")))
        except (IncidentNotFound, FieldError) as exc:
            _fail_on(exc)
    if json_:
        print_json({"request_id": request.id, "kind": request.kind, "state": request.state,
                    "drafts": request.payload.get("drafts"), "affected": request.payload.get("affected")})
        return
    console.print(f"notices drafted for {request.payload.get('affected')} people: another person with "
                  f"incidents.manage approves them: touchflow approval approve {request.id}")


@incident_app.command("timeline")
def timeline(incident_id: str, json_: JsonOpt = False) -> None:
    """Every step of the incident, from the audit log."""
    with open_app() as app:
        try:
            rows = incident_timeline(app.services, incident_id)
        except IncidentNotFound as exc:
            _fail_on(exc)
        zone = workspace_zone(app)
    if json_:
        print_json(rows)
        return
    for row in rows:
        console.print(f"{local_time(row['at'], zone)}  {row['action']:<28} {row['actor']}")


@incident_app.command("drill")
def drill(people: Annotated[int, typer.Option(min=10, max=5000)] = 200, json_: JsonOpt = False) -> None:
    """The monthly attack drill: the whole procedure on a sandbox copy, each step timed; recorded here."""
    with open_app() as app:
        report = run_drill(app.services, actor=local_actor(), open_store=open_sandbox, people=people)
    if json_:
        print_json(report.document())
    else:
        table = Table("step", "ok", "seconds", "detail", title="incident drill")
        for s in report.steps:
            table.add_row(s.name, "yes" if s.ok else "[red]NO[/red]", f"{s.seconds:.3f}", s.detail)
        console.print(table)
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    incident_app.add_typer(step_app, name="step")
    app.add_typer(incident_app, name="incident")
