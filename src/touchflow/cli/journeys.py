"""``touchflow journey validate|publish|list|show|pause|resume|archive|enrol|trace|run`` and ``worker``."""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from touchflow.cli.common import (
    CsvOpt,
    console,
    emit_rows,
    fail,
    local_actor,
    local_time,
    one_format,
    open_app,
    print_json,
    require_secret_key,
    workspace_zone,
)
from touchflow.cli.journey_dry_run import dry_run_command
from touchflow.cli.journey_format import format_command
from touchflow.domain.journeys.parse import DefinitionError
from touchflow.domain.journeys.schema import validate_against_schema
from touchflow.domain.messaging.counts import message_summary
from touchflow.domain.safe_yaml import YamlTooLarge
from touchflow.engine.tick_report import part_name
from touchflow.engine.worker import Worker
from touchflow.heap import freeze_startup_heap
from touchflow.services.contacts import ContactNotFound
from touchflow.services.journeys import (
    JourneyError,
    journey_stats,
    list_journeys,
    load_definition,
    publish_journey,
    set_journey_status,
    set_run_status,
    trace_contact,
    validate_journey,
)

__all__ = ["journey_app", "register"]

journey_app = typer.Typer(help="Journeys: define, publish, run, intervene, explain.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(help="journey definition, YAML or JSON ('-' for standard input)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="one JSON object")]


def _read(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")


@journey_app.command("validate")
def validate(file: FileArg, as_json: JsonOpt = False) -> None:
    """Check a definition against the published JSON Schema, then its logic (J10 lint); exit 1 on errors."""
    text = _read(file)
    problems: list[dict[str, Any]] = []
    try:
        data, _ = load_definition(text)
    except YamlTooLarge as exc:
        fail(f"{file}: {exc}")
    except DefinitionError as exc:
        data = None
        problems.append({"severity": "error", "code": "invalid", "path": exc.path, "message": exc.reason})
    if data is not None:
        problems.extend({"severity": "error", "code": "schema", "path": p.path, "message": p.message}
                        for p in validate_against_schema(data))
        if not problems:
            _, findings = validate_journey(text)
            problems.extend({"severity": f.severity, "code": f.code, "path": f.path, "message": f.message}
                            for f in findings)
    errors = [p for p in problems if p["severity"] == "error"]
    if as_json:
        print_json({"valid": not errors, "findings": problems})
    else:
        for p in problems:
            colour = "red" if p["severity"] == "error" else "yellow"
            console.print(f"[{colour}]{p['severity']}[/{colour}] {p['path']}: {p['message']} ({p['code']})")
        console.print("[green]valid[/green]" if not errors else f"[red]{len(errors)} error(s)[/red]")
    if errors:
        raise typer.Exit(1)


@journey_app.command("publish")
def publish(file: FileArg) -> None:
    """Publish a new immutable version; runs already inside keep theirs. Blocking findings stop it."""
    with open_app() as application:
        try:
            result = publish_journey(application.services, _read(file), actor=local_actor().label,
                                     templates_required=True)
        except YamlTooLarge as exc:
            fail(f"{file}: {exc}")
        except (DefinitionError, JourneyError) as exc:
            fail(str(exc), code=1)
    for f in result.findings:
        console.print(f"[yellow]{f.severity}[/yellow] {f.path}: {f.message} ({f.code})")
    verb = "unchanged at" if result.unchanged else "published as"
    console.print(f"{result.journey.key} {verb} version {result.version} ({result.journey.status})")


@journey_app.command("list")
def list_(as_json: JsonOpt = False, as_csv: CsvOpt = False) -> None:
    with open_app() as application:
        records = list_journeys(application.services)
        zone = workspace_zone(application)
    one_format(as_json, as_csv)
    if as_json:
        print_json([{"key": r.key, "name": r.name, "status": r.status, "version": r.current_version}
                    for r in records])
        return
    rows = [{"key": r.key, "name": r.name, "status": r.status, "version": r.current_version,
             "updated_at": r.updated_at} for r in records]
    if emit_rows(rows, ["key", "name", "status", "version", "updated_at"], as_json=False, as_csv=as_csv, zone=zone):
        return
    table = Table("key", "name", "status", "version", f"updated ({zone.key})")
    for r in records:
        table.add_row(r.key, r.name, r.status, str(r.current_version or "—"), local_time(r.updated_at, zone))
    console.print(table)


@journey_app.command("show")
def show(key: str, as_json: JsonOpt = False) -> None:
    """A journey's status, runs by status, contacts at each node, messages by channel and what became of them."""
    with open_app() as application:
        try:
            stats = journey_stats(application.services, key)
        except JourneyError as exc:
            fail(str(exc), code=1)
    data: dict[str, Any] = {"key": stats.journey.key, "name": stats.journey.name, "status": stats.journey.status,
            "version": stats.journey.current_version, "runs": stats.runs_by_status, "at_nodes": stats.at_nodes,
            "messages": stats.messages_by_channel, "messages_by_status": stats.messages_by_status,
            "status_reason": stats.journey.status_reason or None}
    if as_json:
        print_json(data)
        return
    console.print(f"[bold]{data['name']}[/bold] ({data['key']}) — {data['status']}, version {data['version']}")
    if stats.journey.status_reason:
        console.print(f"reason: {stats.journey.status_reason}")
    console.print("runs: " + (", ".join(f"{k} {v}" for k, v in sorted(stats.runs_by_status.items())) or "none"))
    console.print("waiting at: " + (", ".join(f"{k} {v}" for k, v in sorted(stats.at_nodes.items())) or "—"))
    if not stats.messages_by_status:
        console.print("messages: none")
    for channel, entry in stats.messages_by_status.items():
        console.print(f"{channel}: {message_summary(entry)}")


def _status(key: str, status: str, reason: str) -> None:
    with open_app() as application:
        try:
            record = set_journey_status(application.services, key, status, actor=local_actor().label, reason=reason)
        except JourneyError as exc:
            fail(str(exc), code=1)
    console.print(f"{record.key}: {record.status}")


@journey_app.command("pause")
def pause(key: str, reason: Annotated[str, typer.Option()] = "") -> None:
    """No new entries; runs hold before their next step (J9)."""
    _status(key, "paused", reason)


@journey_app.command("resume")
def resume(key: str, reason: Annotated[str, typer.Option()] = "") -> None:
    _status(key, "active", reason)


@journey_app.command("archive")
def archive(key: str, reason: Annotated[str, typer.Option()] = "") -> None:
    """Stop the journey for good: runs inside end as exited."""
    _status(key, "archived", reason)


@journey_app.command("enrol")
def enrol(key: str, identifier: str) -> None:
    """Enrol one contact by hand (entry rules still apply); the worker takes it from there."""
    from touchflow.services.journeys import enrol_contact

    with open_app() as application:
        try:
            contact_id = enrol_contact(application.services, key, identifier, actor=local_actor().label)
        except (JourneyError, ContactNotFound) as exc:
            fail(str(exc), code=1)
    console.print(f"enrolment of {contact_id} in {key} requested")


@journey_app.command("run")
def run(
    key: str,
    identifier: str,
    action: Annotated[str, typer.Argument(help="pause, resume, remove or retry")],
    reason: Annotated[str, typer.Option()] = "",
) -> None:
    """Intervene on one contact's run (J9); recorded in the audit log."""
    with open_app() as application:
        try:
            runs = set_run_status(application.services, key, identifier, action, actor=local_actor().label,
                                  reason=reason)
        except (JourneyError, ContactNotFound) as exc:
            fail(str(exc), code=1)
    for r in runs:
        console.print(f"run {r.id}: {r.status} at {r.node_id}")


@journey_app.command("trace")
def trace(key: str, identifier: str, as_json: JsonOpt = False) -> None:
    """One contact's path: every node with its time, the values that decided branches, every message."""
    with open_app() as application:
        try:
            traces = trace_contact(application.services, key, identifier)
        except (JourneyError, ContactNotFound) as exc:
            fail(str(exc), code=1)
        zone = workspace_zone(application)
    data = [t.document() for t in traces]
    if as_json:
        print_json(data)
        return
    if not data:
        console.print(f"{identifier} has never entered {key}")

    def when(iso: str) -> str:
        return local_time(datetime.fromisoformat(iso), zone)

    for t in data:
        console.print(f"[bold]run {t['run']}[/bold]" + (f" for {t['key']}" if t["key"] else "")
                      + f" entered {when(t['entered_at'])} — {t['status']} at {t['node']}"
                      + (f" ({t['error']})" if t["error"] else ""))
        table = Table(f"at ({zone.key})", "node", "kind", "edge", "detail")
        for s in t["steps"]:
            table.add_row(when(s["at"]), s["node"], s["kind"], s["edge"] or "", ", ".join(
                f"{k}={v}" for k, v in s["detail"].items()))
        console.print(table)
        for m in t["messages"]:
            why = f" — {m['note']} ({m['detail']})" if m.get("note") else \
                f" — {m['reason']}: {m['detail']}" if m.get("reason") else ""
            console.print(f"  message {m['id']} via {m['channel']} ({m['template']}): {m['status']}{why}")


class Background(StrEnum):
    """Where a worker runs its slow passes (table upkeep, the segments' scheduled recomputes; ADR 0070)."""

    thread = "thread"  # a thread of this worker (one process does everything)
    off = "off"  # not here: a ``--background only`` process runs them
    only = "only"  # nothing but them: no ticks


def worker(
    batch_size: Annotated[int, typer.Option(min=1, max=10000)] = 1000,
    idle_sleep: Annotated[float, typer.Option(help="seconds to sleep when there is nothing to do")] = 0.05,
    once: Annotated[bool, typer.Option("--once", help="do everything due now, then exit (for scripts and cron)")]
    = False,
    as_json: Annotated[bool, typer.Option("--json", help="with --once: print what was done as JSON")] = False,
    background: Annotated[Background, typer.Option(
        help="slow passes (vacuum, scheduled segment recomputes): in a thread of this worker; off (another "
             "process runs them); or only them, in a process of their own")] = Background.thread,
) -> None:
    """Run a worker: event triggers, timers, scans and the outbox. SIGTERM stops it after the current batch."""
    if as_json and not once:
        fail("--json needs --once (a running worker logs instead)")
    if not once:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with open_app() as application:
        require_secret_key(application)
        w = application.worker(batch_size, idle_sleep, background=background is not Background.off)
        if background is Background.only:
            _background_only(w, once, as_json)
            return
        if once:
            try:
                report, ticks = w.run_once()
                due = w.runtime.next_due()
            except Exception as exc:  # the batch rolled back and will be claimed again by the next run
                logging.getLogger(__name__).exception("worker --once failed")
                fail(f"the tick failed and was rolled back: {type(exc).__name__}: {exc}", code=1)
            finally:
                w.close()
            data = {"ticks": ticks, "events": report.events, "entered": report.entered, "advanced": report.advanced,
                    "timers": report.timers, "scanned": report.scanned, "dispatched": report.dispatched,
                    "errors": report.errors, "next_due_at": due.isoformat() if due is not None else None}
            if as_json:
                print_json(data)
            else:
                console.print(f"worker --once: {report.events} event(s) routed, {report.timers} timer(s), "
                              f"{report.entered} entered, {report.dispatched} message(s) dispatched, "
                              f"{report.scanned} scanned in {ticks} tick(s); next due: "
                              f"{data['next_due_at'] or 'nothing'}")
            return
        w.install_signal_handlers()
        freeze_startup_heap()  # full collections skip what start-up wired (touchflow/heap.py, ADR 0058)
        console.print(f"worker running on {application.settings.database_url}")
        w.run()
    console.print("worker stopped")


def _background_only(w: Worker, once: bool, as_json: bool) -> None:
    """``--background only``: the slow passes and nothing else, once or until SIGTERM."""
    try:
        if once:
            w.run_background_once()
            passes = [part_name(chore) for chore in w.background]
            if as_json:
                print_json({"background": passes})
            else:
                console.print(f"worker --background only --once: ran {', '.join(passes)}")
            return
        w.install_signal_handlers()
        freeze_startup_heap()
        console.print("worker running its background passes only (no ticks)")
        w.run_background()
    finally:
        w.close()
    console.print("worker stopped")


def register(app: typer.Typer) -> None:
    journey_app.command("format")(format_command)
    journey_app.command("dry-run")(dry_run_command)
    app.add_typer(journey_app, name="journey")
    app.command("worker")(worker)
