"""``touchflow task``: the hand-off queue (sales, customer service) and follow-up timeliness."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from touchflow.cli.common import console, fail, open_app, print_json
from touchflow.services.tasks import TaskNotFound, complete_task, follow_up_timeliness, list_tasks

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
    """Share of tasks handled within their SLA, per queue and person (target ≥ 90%)."""
    with open_app() as app:
        rows = follow_up_timeliness(app.services, days)
    if json_:
        print_json([{"queue": r.queue, "assignee": r.assignee, "done": r.done, "within_sla": r.within_sla,
                     "share": r.share} for r in rows])
        return
    table = Table("queue", "assignee", "done", "within SLA", "share")
    for r in rows:
        table.add_row(r.queue, r.assignee or "-", str(r.done), str(r.within_sla),
                      "-" if r.share is None else f"{r.share:.0%}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(task_app, name="task")
