"""``touchflow import contacts|events FILE --source NAME``: streaming file import with a reject file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from touchflow.cli.common import console, fail, local_actor, open_app, print_json
from touchflow.engine.importer import ImportReport, default_rejects_path, import_file
from touchflow.engine.readers import MappingError, ReadError

__all__ = ["register"]

import_app = typer.Typer(
    name="import",
    help="Import contacts or events from CSV (UTF-8 or GBK; , ; or tab), JSON Lines or .xlsx files.",
    no_args_is_help=True,
)

FileArg = Annotated[Path, typer.Argument(
    help="CSV, JSON Lines (.jsonl/.ndjson) or .xlsx file. Row numbers in reports count the header "
         "as row 1 (data starts at row 2); for JSON Lines they are line numbers.", show_default=False)]
SourceOpt = Annotated[str, typer.Option("--source", help="Source name, e.g. crm, ecommerce, offline_expo.",
                                        show_default=False)]
MapOpt = Annotated[list[str] | None, typer.Option(
    "--map", metavar="FIELD=COLUMN",
    help="Use COLUMN for FIELD (e.g. --map phone=联系电话 --map custom.vip_level=会员等级). Repeatable.")]
RejectsOpt = Annotated[Path | None, typer.Option(
    "--rejects", help="Where to write rejected rows (default: FILE's name + .rejects.csv, next to it).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object with the counts.")]

_CONTACT_ROWS = (("read", "rows read"), ("created", "contacts created"), ("updated", "contacts updated"),
                 ("merged", "contacts merged"), ("rejected", "rows rejected"), ("warnings", "field warnings"))
_EVENT_ROWS = (("read", "rows read"), ("created", "events stored"), ("duplicates", "duplicates skipped"),
               ("contacts_created", "contacts created"), ("merged", "contacts merged"),
               ("rejected", "rows rejected"))


def _parse_map(entries: list[str] | None) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for entry in entries or []:
        field, sep, column = entry.partition("=")
        field, column = field.strip(), column.strip()
        if not sep or not field or not column:
            fail(f"--map {entry!r}: expected FIELD=COLUMN, for example --map phone=联系电话")
        if field in mapping:
            fail(f"--map {field} is given twice ({mapping[field]!r} and {column!r})")
        mapping[field] = column
    return mapping


def _summary(kind: str, report: ImportReport) -> dict[str, object]:
    """The ``--json`` object: the same keys for both kinds, events add their own two."""
    data: dict[str, object] = {
        "read": report.read, "created": report.created,
        "updated": report.updated if kind == "contacts" else 0, "merged": report.merged,
        "rejected": report.rejected, "warnings": report.warnings if kind == "contacts" else 0,
        "rejects_file": str(report.rejects_file) if report.rejects_file else None,
    }
    if kind == "contacts":
        data["warnings_file"] = str(report.warnings_file) if report.warnings_file else None
        data["warning_reasons"] = dict(report.warning_reasons.most_common())
    if kind == "events":
        data["duplicates"] = report.duplicates
        data["contacts_created"] = report.contacts_created
    return data


@contextmanager
def _progress_bar(show: bool) -> Iterator[Progress | None]:
    if not show:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        yield bar


def _render(kind: str, report: ImportReport) -> None:
    table = Table(title=f"Import of {kind}", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, label in _CONTACT_ROWS if kind == "contacts" else _EVENT_ROWS:
        table.add_row(label, str(getattr(report, key)))
    console.print(table)
    if report.rejects_file is not None:
        # one line, never folded (a path broken across lines cannot be copied), and its brackets are not markup
        console.print(f"rejected rows (with row number and reason): [bold]{escape(str(report.rejects_file))}[/bold]",
                      soft_wrap=True)
    if report.warnings_file is not None:
        console.print("rows stored with a field left out (row number and reason): "
                      f"[bold]{escape(str(report.warnings_file))}[/bold]", soft_wrap=True)
    for title, counter in (("Top reject reasons", report.reject_reasons),
                           ("Top warnings (rows stored)", report.warning_reasons)):
        if counter:
            reasons = Table(title=title)
            reasons.add_column("reason")
            reasons.add_column("rows", justify="right")
            for reason, count in counter.most_common(5):
                reasons.add_row(reason, str(count))
            console.print(reasons)


def _run(kind: Literal["contacts", "events"], file: Path, source: str, map_: list[str] | None,
         rejects: Path | None, as_json: bool, route: bool = False) -> None:
    if not source.strip():
        fail("--source must name the source, for example --source crm")
    mapping = _parse_map(map_)
    if not file.exists():
        fail(f"file not found: {file}")
    if not file.is_file():
        fail(f"not a file: {file}")
    target = rejects or default_rejects_path(file)
    if target.resolve() == file.resolve():
        fail(f"the reject file cannot be the input file: {target}")
    try:
        with open_app() as application, _progress_bar(not as_json and console.is_terminal) as bar:
            task = bar.add_task(f"importing {file.name}", total=file.stat().st_size) if bar else None

            def advance(done: int, total: int) -> None:
                if bar is not None and task is not None:
                    bar.update(task, completed=done, total=total)

            report = import_file(application.services, file, kind, source.strip(), mapping or None,
                                 rejects, advance, application.settings.batch_size, route,
                                 actor=local_actor().label)
    except (ReadError, MappingError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot import {file}: {exc.strerror or exc}")
    if as_json:
        print_json(_summary(kind, report))
    else:
        _render(kind, report)


@import_app.command("contacts")
def contacts(file: FileArg, source: SourceOpt, map_: MapOpt = None, rejects: RejectsOpt = None,
             json_output: JsonOpt = False) -> None:
    """Import contacts from a file.

    Chinese and English headers are recognised (姓名, 手机, 邮箱, 公司 …); other columns become
    custom attributes (custom.<header>). Rows without a usable identifier go to the reject file;
    a bad field (e.g. age) is a warning and the row is stored.
    """
    _run("contacts", file, source, map_, rejects, json_output)


@import_app.command("events")
def events(file: FileArg, source: SourceOpt, map_: MapOpt = None, rejects: RejectsOpt = None,
           json_output: JsonOpt = False,
           trigger_journeys: Annotated[bool, typer.Option(
               "--trigger-journeys", help="Let these events trigger journeys (off: a file is usually history).")
           ] = False) -> None:
    """Import events from a file.

    Recognised columns: 事件/type, 时间/occurred_at, id, identity columns (手机, 邮箱, openid …);
    other columns become event properties. Events already stored (same id, or same content
    without an id) are skipped, so a re-import stores nothing twice.
    """
    _run("events", file, source, map_, rejects, json_output, trigger_journeys)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")

