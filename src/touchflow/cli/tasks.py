"""``touchflow task``: the hand-off queue (sales, customer service) and follow-up timeliness."""

from __future__ import annotations

from datetime import timedelta
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
    workspace_zone,
)
from touchflow.services.assignment import timeliness_report
from touchflow.services.contacts import contact_labels
from touchflow.services.tasks import TaskNotFound, complete_task, list_tasks

__all__ = ["register"]

task_app = typer.Typer(help="Hand-offs to people: list, mark done, timeliness.", no_args_is_help=True)


@task_app.command("list")
def list_(queue: Annotated[str | None, typer.Option(help="sales, service or marketing (alerts)")] = None,
          all_: Annotated[bool, typer.Option("--all", help="done tasks too")] = False,
          json_: Annotated[bool, typer.Option("--json")] = False, csv_: CsvOpt = False) -> None:
    """Open tasks (or all), soonest deadline first, with who the contact is (name, masked phone/email)."""
    with open_app() as app:
        found = list_tasks(app.services, queue, None if all_ else "open", 500)
        labels = contact_labels(app.services, [t.contact_id for t in found if t.contact_id])
        zone = workspace_zone(app)
    rows: list[dict[str, Any]] = []
    for t in found:
        label = labels.get(t.contact_id) if t.contact_id else None
        rows.append({"id": t.id, "queue": t.queue, "title": t.title, "assignee": t.assignee, "status": t.status,
                     "contact_id": t.contact_id, "contact_name": label.name if label else None,
                     "contact_phone": label.phone if label else None,
                     "contact_email": label.email if label else None, "due_at": t.due_at, "done_at": t.done_at,
                     "breached_at": t.breached_at})
    if emit_rows(rows, list(rows[0]) if rows else ["id"], as_json=json_, as_csv=csv_, zone=zone):
        return
    table = Table(title=f"{len(rows)} tasks (times in {zone.key})")
    id_column(table, "task id")
    for header in ("task", "contact", "due"):
        table.add_column(header, overflow="fold")
    for r in rows:
        status = r["status"] + (" (SLA breached)" if r["breached_at"] else "")
        contact = "\n".join(str(r[k]) for k in ("contact_name", "contact_phone", "contact_email") if r[k]) or "—"
        table.add_row(r["id"], f"{r['queue']} · {r['title']}\n{r['assignee'] or '-'} · {status}", contact,
                      local_time(r["due_at"], zone))
    console.print(table)


@task_app.command("done")
def done(task_id: str, note: Annotated[str, typer.Option()] = "") -> None:
    """Mark a task handled (recorded as the OS account running the command, and whether it was within its SLA)."""
    with open_app() as app:
        try:
            by = local_actor()
            task = complete_task(app.services, task_id, by=by, note=note)
        except (TaskNotFound, ValueError) as exc:
            fail(str(exc))
    in_time = task.done_at is not None and task.done_at <= task.due_at
    console.print(f"task {task.id} done by {by.label}" + ("" if in_time else " (after its deadline)"))


@task_app.command("timeliness")
def timeliness(days: Annotated[int, typer.Option(min=1, max=366)] = 30,
               json_: Annotated[bool, typer.Option("--json")] = False, csv_: CsvOpt = False) -> None:
    """Share of tasks handled within their SLA per person and team (target ≥ 90%); open tasks past their
    deadline count as late. Response time (created → done) p50/p90."""
    with open_app() as app:
        rows = timeliness_report(app.services, days)
    data = [{"scope": r.scope, "queue": r.queue, "assignee": r.assignee, "within_sla": r.within_sla,
             "done_late": r.done_late, "open_late": r.open_late, "pending": r.pending, "share": r.share,
             "meets_target": r.meets_target,
             "p50_response_s": None if r.p50_response is None else r.p50_response.total_seconds(),
             "p90_response_s": None if r.p90_response is None else r.p90_response.total_seconds()} for r in rows]
    if emit_rows(data, ["scope", "queue", "assignee", "within_sla", "done_late", "open_late", "pending", "share",
                        "meets_target", "p50_response_s", "p90_response_s"], as_json=json_, as_csv=csv_):
        return
    table = Table("queue", "person", "in time", "late (done)", "late (open)", "pending", "share", "p50", "p90")
    for r in rows:
        who = "[b]team[/b]" if r.scope == "team" else (r.assignee or "(unassigned)")
        table.add_row(r.queue, who, str(r.within_sla), str(r.done_late), str(r.open_late), str(r.pending),
                      "-" if r.share is None else f"{r.share:.0%}", _span(r.p50_response), _span(r.p90_response))
    console.print(table)


def _span(value: timedelta | None) -> str:
    if value is None:
        return "-"
    minutes = int(value.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def register(app: typer.Typer) -> None:
    app.add_typer(task_app, name="task")
