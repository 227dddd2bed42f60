"""``touchflow segment``: define, preview, refresh and list segments; static members by hand or from a file."""

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
    fail,
    id_column,
    local_actor,
    local_time,
    one_format,
    open_app,
    print_json,
    who,
    workspace_zone,
)
from touchflow.domain.errors import PathError
from touchflow.domain.safe_yaml import YamlTooLarge, load_yaml
from touchflow.services.contacts import ContactNotFound, contact_labels
from touchflow.services.segments import (
    SegmentExists,
    SegmentInUse,
    SegmentNotFound,
    add_members,
    archive_segment,
    contact_segment_history,
    create_segment,
    list_segments,
    preview_segment,
    refresh_segments,
    remove_members,
    segment_members,
)

__all__ = ["register"]

segment_app = typer.Typer(help="Segments: dynamic (a condition) or static (listed members).", no_args_is_help=True)
_FILE = Annotated[Path, typer.Argument(help="segment definition, YAML or JSON (key, name, kind, condition)")]


def _definition(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(path.read_text(encoding="utf-8-sig"))
    except (OSError, yaml.YAMLError, YamlTooLarge) as exc:
        fail(f"{path}: {exc}")
    if not isinstance(data, dict):
        fail(f"{path}: expected a mapping with key, name, kind and condition")
    return data


def _identifiers(values: list[str], file: Path | None) -> list[str]:
    found = list(values)
    if file is not None:  # one identifier per line; a CSV's first column (a header line is skipped if unknown)
        for line in file.read_text(encoding="utf-8-sig").splitlines():
            first = line.split(",")[0].strip()
            if first:
                found.append(first)
    return found


@segment_app.command("create")
def create(file: _FILE, replace: Annotated[bool, typer.Option(help="save a new version of an existing key")] = False,
           json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Save a segment and compute its members now (entering emits segment_entered)."""
    with open_app() as app:
        try:
            summary = create_segment(app.services, _definition(file), actor=local_actor().label, replace=replace)
        except (SegmentExists, PathError) as exc:
            fail(str(exc))
    if json_:
        print_json({"key": summary.record.key, "version": summary.record.version, "members": summary.members})
        return
    console.print(f"segment {summary.record.key} v{summary.record.version}: {summary.members} members")


_LABEL_COLUMNS = ["contact_id", "name", "phone", "email"]


def _label_table(title: str, rows: list[dict[str, Any]], extra: list[str]) -> Table:
    table = Table(title=title)
    id_column(table)
    table.add_column("name", overflow="fold", max_width=10)
    table.add_column("phone / email", overflow="fold", min_width=15)
    for header in extra:
        table.add_column(header, overflow="fold")
    for r in rows:
        table.add_row(r["contact_id"], r["name"] or "—", who(r), *(r[f"_{h}"] for h in extra))
    return table


@segment_app.command("preview")
def preview(file: _FILE, sample: Annotated[int, typer.Option(min=0, max=100)] = 10,
            json_: Annotated[bool, typer.Option("--json")] = False, csv_: CsvOpt = False) -> None:
    """How many contacts a definition selects now, and a sample — before saving it."""
    with open_app() as app:
        try:
            found = preview_segment(app.services, _definition(file), sample)
        except PathError as exc:
            fail(str(exc))
        labels = contact_labels(app.services, found.sample)
    rows: list[dict[str, Any]] = [dict(labels[cid].document()) for cid in found.sample]
    one_format(json_, csv_)
    if json_:
        print_json({"count": found.count, "sample": rows})
        return
    if emit_rows(rows, _LABEL_COLUMNS, as_json=json_, as_csv=csv_):
        return
    console.print(_label_table(f"{found.count} contacts (a sample of {len(rows)})", rows, []))


@segment_app.command("members")
def members(key: str, after: Annotated[str | None, typer.Option(help="continue after this contact id")] = None,
            limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
            json_: Annotated[bool, typer.Option("--json")] = False, csv_: CsvOpt = False) -> None:
    """A page of members (ordered by contact id: pass the last one as --after for the next page)."""
    one_format(json_, csv_)
    with open_app() as app:
        try:
            page = segment_members(app.services, key, after, limit)
        except SegmentNotFound as exc:
            fail(str(exc))
        labels = contact_labels(app.services, [cid for cid, _ in page])
        zone = workspace_zone(app)
    rows: list[dict[str, Any]] = [{**labels[cid].document(), "since": since, "_member since": local_time(since, zone)}
            for cid, since in page]
    if emit_rows(rows, [*_LABEL_COLUMNS, "since"], as_json=False, as_csv=csv_, zone=zone):
        return
    if json_:
        print_json([{k: v for k, v in r.items() if not k.startswith("_")} for r in rows])
        return
    table = _label_table(f"{key}: {len(rows)} members (times in {zone.key})", rows, ["member since"])
    console.print(table)


@segment_app.command("refresh")
def refresh(keys: Annotated[list[str] | None, typer.Argument(help="segment keys; none: every dynamic segment")] = None,
            json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Recompute dynamic segments for everyone now, in one pass (shared reads, inner segments first)."""
    with open_app() as app:
        try:
            changes = refresh_segments(app.services, keys or None)
        except (SegmentNotFound, PathError) as exc:
            fail(str(exc))
    if json_:
        summary = {k: {"entered": len(c.entered), "left": len(c.left)} for k, c in changes.items()}
        print_json(summary[keys[0]] if keys and len(keys) == 1 else summary)
        return
    for key, change in changes.items():
        console.print(f"{key}: {len(change.entered)} entered, {len(change.left)} left")


@segment_app.command("archive")
def archive(key: str) -> None:
    """Retire a segment (refused while an active segment or journey reads it); saving it again revives it."""
    with open_app() as app:
        try:
            ended = archive_segment(app.services, key, actor=local_actor().label)
        except (SegmentNotFound, SegmentInUse) as exc:
            fail(str(exc))
    console.print(f"{key}: archived, {ended} stays ended")


@segment_app.command("list")
def list_(json_: Annotated[bool, typer.Option("--json")] = False, csv_: CsvOpt = False) -> None:
    """Every segment with its member count."""
    with open_app() as app:
        found = list_segments(app.services)
        zone = workspace_zone(app)
    rows: list[dict[str, Any]] = [
        {"key": s.record.key, "name": s.record.name, "kind": s.record.kind, "version": s.record.version,
         "members": s.members, "next_refresh": s.record.next_refresh_at} for s in found]
    one_format(json_, csv_)
    if json_:  # the JSON list predates next_refresh
        print_json([{k: v for k, v in r.items() if k != "next_refresh"} for r in rows])
        return
    if emit_rows(rows, ["key", "name", "kind", "version", "members", "next_refresh"], as_json=False, as_csv=csv_,
                 zone=zone):
        return
    table = Table("key", "name", "kind", "version", "members", f"next refresh ({zone.key})")
    for r in rows:
        table.add_row(r["key"], r["name"], r["kind"], str(r["version"]), str(r["members"]),
                      local_time(r["next_refresh"], zone))
    console.print(table)


@segment_app.command("add")
def add(key: str, identifiers: Annotated[list[str] | None, typer.Argument(help="email:…, phone:… or ids")] = None,
        file: Annotated[Path | None, typer.Option(help="one identifier per line (or a CSV's first column)")] = None,
        remove: Annotated[bool, typer.Option("--remove", help="take them out instead")] = False) -> None:
    """Add (or with --remove, remove) members of a static segment."""
    wanted = _identifiers(identifiers or [], file)
    with open_app() as app:
        try:
            change = (remove_members if remove else add_members)(app.services, key, wanted, actor=local_actor().label)
        except (SegmentNotFound, PathError) as exc:
            fail(str(exc))
    console.print(f"{key}: {change.entered} entered, {change.left} left, {len(change.unknown)} unknown")
    for identifier in change.unknown[:20]:
        console.print(f"  no contact: {identifier}")


@segment_app.command("history")
def history(contact: str, json_: Annotated[bool, typer.Option("--json")] = False, csv_: CsvOpt = False) -> None:
    """A contact's stays in segments, oldest first."""
    with open_app() as app:
        try:
            stays = contact_segment_history(app.services, contact)
        except ContactNotFound as exc:
            fail(str(exc))
        zone = workspace_zone(app)
    rows: list[dict[str, Any]] = [{"segment": s.segment_key, "entered_at": s.entered_at, "left_at": s.left_at}
                                  for s in stays]
    if emit_rows(rows, ["segment", "entered_at", "left_at"], as_json=json_, as_csv=csv_, zone=zone):
        return
    table = Table("segment", f"entered ({zone.key})", f"left ({zone.key})")
    for r in rows:
        table.add_row(r["segment"], local_time(r["entered_at"], zone), local_time(r["left_at"], zone))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(segment_app, name="segment")
