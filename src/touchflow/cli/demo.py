"""``touchflow sample-data`` and ``touchflow demo``: see the product work on realistic, messy data in a minute."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from touchflow.bootstrap import bootstrap
from touchflow.cli.common import console, fail, local_actor
from touchflow.cli.metrics import kpi_table
from touchflow.clock import SystemClock
from touchflow.config import Settings
from touchflow.demo.connector import CONNECTOR, SCHEDULE, add_shop_connector
from touchflow.demo.console_login import DEMO_EMAIL, ensure_demo_login
from touchflow.demo.journeys import examples_dir, save_example_templates, simulate_company
from touchflow.demo.report import write_weekly_report
from touchflow.demo.sample_data import FILES, SampleFiles, write_sample_data
from touchflow.demo.summary import PLAN, SOURCE_FIELDS, DemoResult, ImportStep, ProgressFn, run_demo
from touchflow.domain.contacts import STANDARD_FIELDS
from touchflow.reports.fonts import FontMissing
from touchflow.services.context import ServiceContext
from touchflow.services.journeys import publish_journey
from touchflow.services.quality import SYNC_SUCCESS_TARGET

__all__ = ["register"]

ContactsOpt = Annotated[int, typer.Option("--contacts", min=1, help="Rows in the CRM export.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Same seed, byte-identical files.")]


def sample_data(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the files into (created if missing).")],
    contacts: ContactsOpt = 2000,
    seed: SeedOpt = 1,
    events: Annotated[int | None, typer.Option("--events", min=0, help="Web events (default: 3 per contact).")]
    = None,
    as_of: Annotated[datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"],
                                                   help="Date the data runs up to (default: today, China time).")]
    = None,
) -> None:
    """Write sample data for a fictional company (CRM, web shop, web site), messy like real exports.

    智造云 sells MES software to manufacturers and runs a web shop: crm_contacts.csv (GBK, Chinese
    headers), shop_customers.csv (UTF-8 with BOM), shop_orders.csv and web_events.jsonl. The same
    people appear in several files with phones, emails and names spelled differently; about 1% of
    rows are bad on purpose.
    """
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"not a directory: {out_dir}")
    try:
        today = (as_of.date() if as_of is not None
                 else SystemClock().now().astimezone(ZoneInfo("Asia/Shanghai")).date())
        files = write_sample_data(out_dir, contacts=contacts, seed=seed, events=events, as_of=today)
    except OSError as exc:
        fail(f"cannot write to {out_dir}: {exc.strerror or exc}")
    _render_files(files)
    console.print(f"\nImport them with e.g. [bold]touchflow import contacts {files.path('crm')} --source crm[/bold], "
                  "or run [bold]touchflow demo[/bold] to do it all.")


def demo(
    dir_: Annotated[Path | None, typer.Option("--dir", help="Working directory (default: the current one).")]
    = None,
    contacts: ContactsOpt = 2000,
    seed: SeedOpt = 1,
    journeys: Annotated[bool, typer.Option("--journeys/--no-journeys", help="publish the example journeys and "
                                           "replay the last 90 days through them in the sandbox")] = True,
) -> None:
    """Generate sample data, import it all and show what unifying the data achieved.

    Uses DIR/touchflow.db (or TOUCHFLOW_DATABASE_URL) and writes the files to DIR/sample-data.
    Safe to run again: a second run finds everything already stored and creates nothing.
    """
    directory = (dir_ or Path.cwd()).resolve()
    if directory.exists() and not directory.is_dir():
        fail(f"not a directory: {directory}")
    directory.mkdir(parents=True, exist_ok=True)
    application = bootstrap(Settings.from_env(cwd=directory))
    try:
        application.init_database()
        with _progress() as progress:
            result = run_demo(application.services, directory, contacts, seed, progress,
                              application.settings.batch_size)
        database = application.engine.url.render_as_string(hide_password=True)
        _render(result, database, directory)
        _connector(application.services, result.sample.path("shop_orders"), application.settings.batch_size)
        if journeys:
            _journeys(application.services, directory)
        _console_login(application.services)
    finally:
        application.close()


def _connector(services: ServiceContext, orders_csv: Path, batch_size: int) -> None:
    """The shop's orders in its own database, pulled by a scheduled connector (run once here)."""
    run = add_shop_connector(services, orders_csv, batch_size)
    duplicates = int(str(run.details.get("duplicates", 0)))
    console.print(f"连接器 Connector [bold]{CONNECTOR}[/bold] (sql, {orders_csv.with_name('shop.db')}, "
                  f"schedule {SCHEDULE}): {run.status}, read {run.read:,}, new events {run.accepted - duplicates:,}, "
                  f"already stored {duplicates:,}, rejected {run.rejected:,}"
                  + (f" ({run.error})" if run.error else "")
                  + "; the worker runs it on schedule: [bold]touchflow connector list[/bold]")


def _journeys(services: ServiceContext, directory_out: Path) -> None:
    """Publish the spec's journeys here, and show what 90 days of this company would do in them."""
    directory = examples_dir()
    if directory is None:
        console.print("[yellow]note:[/yellow] examples/journeys not found; journeys skipped")
        return
    save_example_templates(services)  # the journeys' copy, so a worker started after the demo renders it
    for path in sorted(directory.glob("*.yaml")):
        if not path.name.endswith(".scenario.yaml"):
            publish_journey(services, path.read_text(encoding="utf-8"), actor="demo", templates_required=True)
    written: list[tuple[Path, float] | str] = []

    def weekly_report(sandbox: ServiceContext) -> None:
        try:
            written.append(write_weekly_report(sandbox, directory_out))
        except FontMissing as exc:
            written.append(str(exc))

    with console.status("replaying the last 90 days through the journeys in the sandbox …"):
        outcomes, seconds, guarded = simulate_company(services, inspect=weekly_report)
    table = Table("journey", "entered", "converted", "messages sent by channel",
                  title=f"Journeys: the last 90 days replayed in the sandbox ({seconds:.1f} s)")
    for o in outcomes:
        table.add_row(f"{o.name} ({o.key})", f"{o.entered:,}", f"{o.converted:,}",
                      ", ".join(f"{c} {n:,}" for c, n in sorted(o.messages.items())) or "—")
    console.print(table)
    parts = [f"{sum(guarded.get('sent', {}).values()):,} sent"]
    for status, label in (("skipped", "skipped"), ("queued", "waiting")):
        reasons = {r: n for r, n in guarded.get(status, {}).items() if r != "-"}
        if reasons:
            parts.append(f"{label}: " + ", ".join(f"{r.replace('_', ' ')} {n:,}" for r, n in
                                                  sorted(reasons.items(), key=lambda x: -x[1])))
    console.print("Guardrails in the replay (default policy: ≤ 3 touches a day, quiet hours 21:00–08:00): "
                  + "; ".join(parts))
    kpis = [replace(o.kpi, journey=f"{o.name} ({o.key})") for o in outcomes if o.kpi is not None]
    console.print(kpi_table(kpis, ["journey"], title="关键指标 KPIs of the replay (metric rollups; "
                            "open rate = unique opens / delivered, click rate = unique clicks / delivered)",
                            columns=("sent", "delivered", "open_rate", "click_rate", "converted", "unsubscribed")))
    for item in written:
        if isinstance(item, str):
            console.print(f"[yellow]weekly report not written:[/yellow] {item}")
        else:
            console.print(f"Weekly report of the replay (PDF, {item[1]:.1f} s to render): [bold]{item[0]}[/bold]")
    console.print("Opens, clicks, purchases and survey answers to these messages are drawn with seeded "
                  "probabilities. The journeys are published in this database too: [bold]touchflow journey "
                  "list[/bold]; run [bold]touchflow worker[/bold] to let them act on new events.")


def _console_login(services: ServiceContext) -> None:
    """The last lines: where the console is and how to sign in (issue 15)."""
    password = ensure_demo_login(services, local_actor())
    console.print("\n[bold]Console[/bold] (网页控制台): run [bold]touchflow init[/bold] once, then "
                  "[bold]touchflow serve[/bold] and open [bold]http://127.0.0.1:8000/[/bold]")
    if password is None:
        console.print(f"  sign in as [bold]{DEMO_EMAIL}[/bold] (its password was shown by the first demo run; set a "
                      f"new one with [bold]touchflow user set-password {DEMO_EMAIL}[/bold])")
    else:
        console.print(f"  demo login: [bold]{DEMO_EMAIL}[/bold]  password: [bold]{password}[/bold] (shown once; "
                      "the first sign-in sets up two-factor with an authenticator app)")


@contextmanager
def _progress() -> Iterator[ProgressFn | None]:
    """A transient bar per file on a terminal; nothing in a pipe or a test."""
    if not console.is_terminal:
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), console=console, transient=True) as bar:
        tasks = {step.sample: bar.add_task(f"importing {step.label}", total=None) for step in PLAN}

        def advance(step: ImportStep, done: int, total: int) -> None:
            bar.update(tasks[step.sample], completed=done, total=total)

        yield advance


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _render_files(files: SampleFiles) -> None:
    table = Table("file", "rows", "bad rows (on purpose)", title=f"Sample data in {files.directory}")
    for name, file_name in FILES.items():
        table.add_row(file_name, f"{files.rows[name]:,}", f"{files.bad_rows[name]:,}")
    console.print(table)


_IMPORT_ROWS: tuple[tuple[str, str, str], ...] = (  # label, attribute for contacts files, for events files
    ("rows read", "read", "read"), ("new contacts", "created", "contacts_created"),
    ("contacts updated", "updated", ""), ("new events", "", "created"),
    ("already stored", "", "duplicates"), ("merged", "merged", "merged"),
    ("rejected", "rejected", "rejected"), ("warnings", "warnings", ""),
)


def _render(result: DemoResult, database: str, directory: Path) -> None:
    console.print(f"[bold]Touchflow demo[/bold]: 智造云 (fictional) CRM, web shop and web site data, "
                  f"imported into {database} in {result.seconds:.1f} s")
    imports = Table("", *(i.path.stem for i in result.imports), title="Imports (warnings: a bad field "
                    "was dropped, the row kept)")
    imports.add_row("source", *(i.step.source for i in result.imports))
    for label, for_contacts, for_events in _IMPORT_ROWS:
        cells = []
        for item in result.imports:
            name = for_events if item.step.kind == "events" else for_contacts
            cells.append(f"{getattr(item.report, name):,}" if name else "—")
        imports.add_row(label, *cells)
    console.print(imports)
    console.print(f"This run: [bold]{result.contacts_created:,}[/bold] new contacts, "
                  f"[bold]{result.events_stored:,}[/bold] new events, [bold]{result.merged:,}[/bold] merges.")
    console.print(f"Contacts in the store: [bold]{result.quality.contacts:,}[/bold], from {result.read:,} rows "
                  "in four files. Merges join records that turned out to be one person (a shared phone, email "
                  "or visitor id) into one contact.")
    _render_rejects(result)
    _render_completeness(result)
    _render_sources(result)
    if result.duplicate_suggestions is not None:
        found = result.duplicate_suggestions
        console.print(f"Duplicate suggestions: [bold]{len(found):,}[/bold] pairs look like the same person "
                      "(same city, similar name and company) but share no identifier; review them with "
                      "[bold]touchflow contact duplicates[/bold], confirm with [bold]touchflow contact merge"
                      "[/bold].")
    console.print(f"\nTry (in {directory}): [bold]touchflow contact show phone:13800138000[/bold] — 张三 "
                  "is in every source, spelled differently in each.")


def _render_rejects(result: DemoResult) -> None:
    share = result.rejected / result.read if result.read else 0.0
    console.print(f"Rejected rows: [bold]{result.rejected:,}[/bold] ({share:.1%} of rows), each kept with its "
                  "row number and reason in a *.rejects.csv next to its file.")
    if not result.reasons:
        return
    table = Table("file", "reason", "rows", title="Top reject reasons")
    for (sample, reason), count in result.reasons.most_common(8):
        table.add_row(FILES[sample], reason, f"{count:,}")
    console.print(table)


def _render_completeness(result: DemoResult) -> None:
    contact_imports = [i for i in result.imports if i.step.kind == "contacts"]
    table = Table("field", *(f"{i.step.source}: {i.path.name}" for i in contact_imports),
                  f"all {result.quality.contacts:,} contacts, after merging",
                  title="Field completeness (share of rows / of contacts with a value)")
    for name in SOURCE_FIELDS:
        merged = "—"
        if name in STANDARD_FIELDS:
            merged = f"{result.quality.filled.get(name, 0):,} ({_percent(result.quality.share(name))})"
        table.add_row(name, *(_percent(result.source_share(i, name)) for i in contact_imports), merged)
    console.print(table)
    console.print("After merging, a field one source lacks is often filled by another; the share counts "
                  "every contact, including web visitors known only by a cookie.")


def _render_sources(result: DemoResult) -> None:
    table = Table("source", "kind", "received", "accepted", "rejected", "sync success",
                  title=f"Sources (sync success target ≥ {SYNC_SUCCESS_TARGET:.0%})")
    for source in result.quality.active_sources:
        rate = source.success_rate
        text = _percent(rate)
        if rate is not None and rate < SYNC_SUCCESS_TARGET:
            text = f"[red]{text}[/red]"
        table.add_row(source.name, source.kind, f"{source.received:,}", f"{source.accepted:,}",
                      f"{source.rejected:,}", text)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("sample-data")(sample_data)
    app.command("demo")(demo)
