"""``touchflow task``: the hand-off queue (sales, customer service) and follow-up timeliness."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from touchflow.cli.common import console, fail, open_app, print_json
from touchflow.services.assignment import timeliness_report
from touchflow.services.tasks import TaskNotFound, complete_task, list_tasks

__all__ = ["register"]

task_app = typer.Typer(help="Hand-offs to people: list, mark done, timeliness.", no_args_is_help=True)


@task_app.command("list")
def list_(queue: Annotated[str | None, typer.Option(help="sales or service")] = None,
          all_: Annotated[bool, typer.Option("--all", help="done tasks too")] = False,
          json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Open tasks (or all), soonest deadline first."""
    with open_app() as app:
        found = list_tasks(app.services, queue, None if all_ else "open", 500)
    if json_:
        print_json([{"id": t.id, "queue": t.queue, "title": t.title, "assignee": t.assignee, "status": t.status,
                     "contact_id": t.contact_id, "due_at": t.due_at, "done_at": t.done_at,
                     "breached_at": t.breached_at} for t in found])
        return
    table = Table("id", "queue", "title", "assignee", "due", "status")
    for t in found:
        status = t.status + (" (SLA breached)" if t.breached_at else "")
        table.add_row(t.id, t.queue, t.title, t.assignee or "-", f"{t.due_at:%Y-%m-%d %H:%M}", status)
    console.print(table)


@task_app.command("done")
def done(task_id: str, by: Annotated[str, typer.Option(help="who handled it")],
         note: Annotated[str, typer.Option()] = "") -> None:
    """Mark a task handled (recorded with the person, and whether it was within its SLA)."""
    with open_app() as app:
        try:
            task = complete_task(app.services, task_id, by=by, note=note)
        except (TaskNotFound, ValueError) as exc:
            fail(str(exc))
    in_time = task.done_at is not None and task.done_at <= task.due_at
    console.print(f"task {task.id} done by {by}" + ("" if in_time else " (after its deadline)"))


@task_app.command("timeliness")
def timeliness(days: Annotated[int, typer.Option(min=1, max=366)] = 30,
               json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Share of tasks handled within their SLA per person and team (target ≥ 90%); open tasks past their
    deadline count as late. Response time (created → done) p50/p90."""
    with open_app() as app:
        rows = timeliness_report(app.services, days)
    if json_:
        print_json([{"scope": r.scope, "queue": r.queue, "assignee": r.assignee, "within_sla": r.within_sla,
                     "done_late": r.done_late, "open_late": r.open_late, "pending": r.pending, "share": r.share,
                     "meets_target": r.meets_target,
                     "p50_response_s": None if r.p50_response is None else r.p50_response.total_seconds(),
                     "p90_response_s": None if r.p90_response is None else r.p90_response.total_seconds()}
                    for r in rows])
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
