"""``touchflow audit``: verify the tamper-evident chain, anchor it, search, export and purge (P5, ADR 0024)."""

from __future__ import annotations

import os
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import orjson
import typer
from rich.table import Table

from touchflow.cli.common import (
    CsvOpt,
    console,
    emit_rows,
    fail,
    local_actor,
    local_time,
    open_app,
    print_json,
    workspace_zone,
)
from touchflow.domain.governance.audit_chain import AuditRow
from touchflow.domain.governance.audit_ports import AuditQuery
from touchflow.security.audit_anchors import ENV_ANCHOR_FILE
from touchflow.services.audit import (
    RetentionRefused,
    anchor_chain,
    iter_audit,
    purge_audit,
    search_audit,
    verify_chain,
    verify_with_anchor_file,
)

__all__ = ["register"]

audit_app = typer.Typer(help="The audit log: verify its hash chain, anchor it, search, export, purge.",
                        no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on standard output")]
_COLUMNS = ("id", "at", "actor", "action", "subject", "request_id", "ip", "user_agent", "details")


def _when(value: str | None, zone: ZoneInfo, option: str) -> datetime | None:
    """A date (midnight in the workspace's zone) or an ISO 8601 time (with no offset: the workspace's zone)."""
    if value is None:
        return None
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: not a date or time (use 2026-03-02 or 2026-03-02T09:00+08:00): {value!r}")
    if len(value) == 10:  # a bare date
        found = datetime.combine(found.date(), time(), zone)
    return found if found.tzinfo is not None else found.replace(tzinfo=zone)


@audit_app.command("verify")
def verify(
    anchors: Annotated[Path | None, typer.Option("--anchors", help="also check every anchor in this file "
                                                 "(catches a cut-off tail or a rewritten chain)")] = None,
    batch: Annotated[int, typer.Option(min=1, max=100000, help="rows read at a time")] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Walk the chain in id order; report the first broken link. Exit 1 when broken."""
    with open_app() as application:
        try:
            report = verify_with_anchor_file(application.services, anchors, batch) if anchors is not None \
                else verify_chain(application.services, batch=batch)
        except OSError as exc:
            fail(f"--anchors: {anchors}: {exc.strerror or exc}")
        except ValueError as exc:
            fail(f"--anchors: {exc}")
    if as_json:
        print_json(report.as_json())
    elif report.broken is None:
        console.print(f"audit chain intact: {report.checked} row(s) checked, last id {report.last_id}"
                      + (f", {report.anchors} anchor(s) match" if anchors is not None else ""))
    else:
        b = report.broken
        console.print(f"[red]audit chain broken at row {b.row_id} ({b.kind}):[/red] {b.reason}")
    if report.broken is not None:
        raise typer.Exit(1)


@audit_app.command("anchor")
def anchor(
    file: Annotated[Path | None, typer.Option("--file", help=f"append here (default: {ENV_ANCHOR_FILE}, "
                                              "else <key file>.anchors)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Append today's anchor (date, last id, last hash) to a file outside the database; run daily (the worker
    does it on its own), and keep a copy off the machine."""
    with open_app() as application:
        path = file or application.audit_anchor_file()
        if path is None:
            fail(f"no anchor file: the key comes from the environment; give --file or set {ENV_ANCHOR_FILE}")
        try:
            written = anchor_chain(application.services, path)
        except OSError as exc:
            fail(f"{path}: {exc.strerror or exc}")
    data = {"file": str(path), "anchor": None if written is None else orjson.loads(written.line())}
    if as_json:
        print_json(data)
    elif written is None:
        console.print("the audit log is empty: nothing to anchor")
    else:
        console.print(f"anchored row {written.last_id} ({written.last_hash[:16]}…) in {path}")


@audit_app.command("purge")
def purge(
    before: Annotated[str, typer.Option("--before", help="delete rows written before this date (at least two "
                                        "years ago)")],
    as_json: JsonOpt = False,
) -> None:
    """Delete audit rows older than the retention period (≥ 2 years), keeping the rest verifiable. Audited."""
    with open_app() as application:
        cutoff = _when(before, workspace_zone(application), "--before")
        assert cutoff is not None
        try:
            result = purge_audit(application.services, cutoff, local_actor())
        except RetentionRefused as exc:
            fail(str(exc))
    if as_json:
        print_json(result.as_json())
    else:
        console.print(f"purged {result.deleted} audit row(s)"
                      + (f"; the chain now starts after row {result.through_id}" if result.through_id else ""))


def _query(application: Any, actor: str | None, action: str | None, subject: str | None, since: str | None,
           until: str | None, request_id: str | None) -> tuple[AuditQuery, ZoneInfo]:
    zone = workspace_zone(application)
    return AuditQuery(actor, action, subject, _when(since, zone, "--since"), _when(until, zone, "--until"),
                      request_id), zone


def _shown(row: AuditRow, zone: ZoneInfo) -> dict[str, Any]:
    return {"id": row.id, "at": row.at.astimezone(zone), "actor": row.actor, "action": row.action,
            "subject": row.subject, "request_id": row.request_id, "ip": row.ip, "user_agent": row.user_agent,
            "details": dict(row.details), "before_digest": row.before_digest, "after_digest": row.after_digest}


ActorOpt = Annotated[str | None, typer.Option("--actor", help="exactly this actor (e.g. os:alice, apikey:<id>)")]
ActionOpt = Annotated[str | None, typer.Option("--action", help="exact, or a prefix ending in '.' (contact.)")]
SubjectOpt = Annotated[str | None, typer.Option("--subject", help="exactly this subject")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="from this date or time (inclusive)")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="before this date or time")]
RequestOpt = Annotated[str | None, typer.Option("--request-id", help="rows of one request (X-Request-ID)")]


@audit_app.command("search")
def search(actor: ActorOpt = None, action: ActionOpt = None, subject: SubjectOpt = None, since: SinceOpt = None,
           until: UntilOpt = None, request_id: RequestOpt = None,
           limit: Annotated[int, typer.Option(min=1, max=10000)] = 200, as_json: JsonOpt = False,
           as_csv: CsvOpt = False) -> None:
    """Find audit rows (oldest first); times in the workspace's zone."""
    with open_app() as application:
        query, zone = _query(application, actor, action, subject, since, until, request_id)
        rows = [_shown(r, zone) for r in search_audit(application.services, query, limit)]
    if emit_rows(rows, _COLUMNS, as_json=as_json, as_csv=as_csv, zone=zone):
        return
    table = Table("id", "at", "actor", "action", "subject", "request id", "ip")
    for r in rows:
        table.add_row(str(r["id"]), local_time(r["at"], zone), r["actor"], r["action"],
                      r["subject"], r["request_id"] or "-", r["ip"] or "-")
    console.print(table)


@audit_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="JSON Lines file to write (refused if it exists)")],
    since: SinceOpt = None, until: UntilOpt = None, as_json: JsonOpt = False,
) -> None:
    """Write rows as JSON Lines with their hashes, so anyone can re-check the slice (each row's hash from its
    prev_hash and content; each prev_hash is the row before's hash)."""
    with open_app() as application:
        query, _ = _query(application, None, None, None, since, until, None)
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            fail(f"--out: {out}: {exc.strerror or exc}")
        count = 0
        with os.fdopen(fd, "wb") as handle:
            for row in iter_audit(application.services, query):
                handle.write(orjson.dumps(row.as_json()) + b"\n")
                count += 1
    if as_json:
        print_json({"file": str(out), "rows": count})
    else:
        console.print(f"exported {count} audit row(s) to {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
