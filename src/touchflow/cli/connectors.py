"""``touchflow connector add|list|show|test|run|pause|resume``: pulls from CRM, ERP, shop and database systems.

Credentials are read from ``--secret-file PATH`` (a JSON object or key=value lines; ``-`` is stdin) and sealed
here with the database's key before the service sees them — never from the command line."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from touchflow.bootstrap import Application
from touchflow.cli.channels import _pairs, _read_secrets
from touchflow.cli.common import console, fail, local_actor, local_time, open_app, print_json, workspace_zone
from touchflow.cli.imports import _parse_map
from touchflow.domain.connectors import ConnectorRun
from touchflow.domain.errors import FieldError
from touchflow.engine.connectors.kinds import kind_requirements
from touchflow.engine.connectors.runner import OpenSecret, RunOptions, run_connector, test_connector
from touchflow.engine.headers import MappingError, mapped_fields
from touchflow.security.crypto import SecretError
from touchflow.services.connectors import (
    ConnectorBusy,
    ConnectorNotFound,
    add_connector,
    connector_summaries,
    run_json,
    set_connector_status,
    show_connector,
)

__all__ = ["register"]

connector_app = typer.Typer(help="连接器 Connectors: scheduled pulls from CRM, shop, ERP and databases (issue 14).",
                            no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
NameArg = Annotated[str, typer.Argument(help="the connector's name")]
_STATUS = {"succeeded": "成功 succeeded", "failed": "失败 failed", "running": "运行中 running",
           "interrupted": "中断 interrupted", "active": "启用 active", "paused": "暂停 paused"}


def _opener(app: Application) -> OpenSecret:
    """Opens a sealed secret with the key ring, read only when a connector has a secret (no key needed otherwise)."""
    return lambda sealed, context: app.secret_box().open(sealed, context)


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _run_line(run: ConnectorRun) -> str:
    text = (f"{_STATUS.get(run.status, run.status)}: 读取 read {run.read}, 接收 accepted {run.accepted}, "
            f"拒绝 rejected {run.rejected}, 重试 retried {run.retried}; 游标 cursor {run.cursor_before} → "
            f"{run.cursor_after}")
    if run.error:
        text += f"\n  错误 error: {run.error}"
    for warning in run.warnings:
        text += f"\n  提示 warning: {warning}"
    return text


@connector_app.command("add")
def add(
    name: NameArg,
    kind: Annotated[str, typer.Option(help="sql, drop_folder, … (see the list in the error when unknown)")],
    setting: Annotated[list[str] | None, typer.Option(help="key=value, repeatable (not secret): url=…, table=…, "
                                                           "query=…, path=…, source=…")] = None,
    secret_file: Annotated[str | None, typer.Option(help="credentials: a JSON object or key=value lines; - reads "
                                                         "stdin. Sealed before they are stored")] = None,
    ask_secret: Annotated[list[str] | None, typer.Option(help="a credential to type at a hidden prompt")] = None,
    secret: Annotated[list[str] | None, typer.Option(hidden=True, help="refused: see --secret-file")] = None,
    record_kind: Annotated[str, typer.Option(help="contacts or events")] = "contacts",
    event_type: Annotated[str | None, typer.Option(help="events: the type of every row (order_paid …)")] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", metavar="FIELD=COLUMN",
                                                   help="as in `import --map`; repeatable")] = None,
    cursor: Annotated[str | None, typer.Option(help="column that orders rows (updated_at, id): incremental")] = None,
    schedule: Annotated[str, typer.Option(help="five-field cron in the workspace zone ('0 * * * *'), realtime or "
                                               "manual")] = "manual",
    replace: Annotated[bool, typer.Option("--replace", help="redefine an existing connector")] = False,
    json_: JsonOpt = False,
) -> None:
    """Add a connector (its first run is at its schedule, or `connector run NAME`)."""
    if record_kind not in ("contacts", "events"):
        fail(f"--record-kind: contacts or events, got {record_kind!r}")
    secrets = _read_secrets(secret, secret_file, ask_secret)
    settings = _pairs(setting or [], "--setting", typed=True)
    mapping = _parse_map(map_)
    try:
        mapped_fields(record_kind, mapping)  # type: ignore[arg-type]
    except MappingError as exc:
        fail(str(exc))
    with open_app() as app:
        try:
            sealed = app.secret_box().seal(secrets, f"connector:{name}") if secrets else None
            connector = add_connector(app.services, name, kind, settings, record_kind=record_kind,  # type: ignore[arg-type]
                                      event_type=event_type, mapping=mapping, cursor=cursor, schedule=schedule,
                                      sealed_secret=sealed, secret_names=sorted(secrets), kinds=kind_requirements(),
                                      actor=local_actor().label, replace_existing=replace)
        except (FieldError, SecretError) as exc:
            fail(str(exc))
        summary, _ = show_connector(app.services, connector.name, 1)
        zone = workspace_zone(app)
    if json_:
        print_json(summary.to_json())
        return
    console.print(f"已添加连接器 added connector [bold]{connector.name}[/bold] ({connector.kind} → "
                  f"{connector.record_kind}); 计划 schedule: {connector.schedule}; 下次运行 next run: "
                  f"{local_time(connector.next_run_at, zone)}")


@connector_app.command("list")
def list_(json_: JsonOpt = False) -> None:
    """Connectors, their last run and sync success rate (A6: ≥ 95 %)."""
    with open_app() as app:
        found = connector_summaries(app.services)
        zone = workspace_zone(app)
    if json_:
        print_json([s.to_json() for s in found])
        return
    if not found:
        console.print("还没有连接器 no connectors yet: touchflow connector add NAME --kind sql …")
        return
    table = Table("名称 name", "类型 kind", "记录 records", "计划 schedule", "状态 status", "下次 next run",
                  "上次 last run", "成功率 success", "连续失败 failing")
    for s in found:
        c = s.connector
        last = "—" if s.last_run is None else f"{_STATUS.get(s.last_run.status, s.last_run.status)} " \
                                              f"{local_time(s.last_run.started_at, zone)}"
        table.add_row(c.name, c.kind, c.record_kind + (f" ({c.event_type})" if c.event_type else ""), c.schedule,
                      _STATUS.get(c.status, c.status), local_time(c.next_run_at, zone), last,
                      _rate(s.success_rate), str(s.consecutive_failures))
    console.print(table)


@connector_app.command("show")
def show(name: NameArg, runs: Annotated[int, typer.Option(help="recent runs shown")] = 10, json_: JsonOpt = False
         ) -> None:
    """One connector in full (secrets: names only) and its recent runs."""
    with open_app() as app:
        try:
            summary, recent = show_connector(app.services, name, runs)
        except ConnectorNotFound as exc:
            fail(str(exc))
        zone = workspace_zone(app)
    if json_:
        print_json({**summary.to_json(), "runs": [run_json(r) for r in recent]})
        return
    data: dict[str, Any] = summary.to_json()
    for key in ("name", "kind", "record_kind", "event_type", "settings", "secret", "mapping", "cursor", "cursor_value",
                "schedule", "status"):
        console.print(f"{key}: {data[key]}")
    console.print(f"next_run_at: {local_time(summary.connector.next_run_at, zone)}; 成功率 success rate: "
                  f"{_rate(summary.success_rate)}; 连续失败 failing: {summary.consecutive_failures}")
    for run in recent:
        console.print(f"[bold]{local_time(run.started_at, zone)}[/bold] ({run.trigger}, {run.actor}) {_run_line(run)}")


@connector_app.command("test")
def test(name: NameArg, json_: JsonOpt = False) -> None:
    """Check the connector reaches its source; stores nothing. Exit 1 when it does not."""
    with open_app() as app:
        try:
            result = test_connector(app.services, name, open_secret=_opener(app))
        except ConnectorNotFound as exc:
            fail(str(exc))
        except Exception as exc:  # the source's own answer, shown as it is
            if json_:
                print_json({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
            else:
                console.print(f"[red]连接失败 failed:[/red] {type(exc).__name__}: {exc}")
            raise typer.Exit(1) from None
    if json_:
        print_json({"ok": True, "result": result})
    else:
        console.print(f"连接正常 ok: {result}")


@connector_app.command("run")
def run(name: NameArg, batch_size: Annotated[int | None, typer.Option(help="rows per ingest batch")] = None,
        json_: JsonOpt = False) -> None:
    """Run the connector now, in this process; exit 1 when the run fails (it is recorded either way)."""
    with open_app() as app:
        options = RunOptions(batch_size=batch_size or app.settings.batch_size)
        try:
            done = run_connector(app.services, name, actor=local_actor().label, open_secret=_opener(app),
                                 options=options)
        except ConnectorNotFound as exc:
            fail(str(exc))
        except ConnectorBusy as exc:
            fail(f"正在运行 busy: {exc}", 3)
    if json_:
        print_json(run_json(done))
    else:
        console.print(f"{name}: {_run_line(done)}")
    if not done.ok:
        raise typer.Exit(1)


def _status(name: str, status: str, json_: bool) -> None:
    with open_app() as app:
        try:
            updated = set_connector_status(app.services, name, status, actor=local_actor().label)
        except ConnectorNotFound as exc:
            fail(str(exc))
        zone = workspace_zone(app)
    if json_:
        print_json({"name": updated.name, "status": updated.status,
                    "next_run_at": updated.next_run_at.isoformat() if updated.next_run_at else None})
    else:
        console.print(f"{updated.name}: {_STATUS[updated.status]}; 下次运行 next run: "
                      f"{local_time(updated.next_run_at, zone)}")


@connector_app.command("pause")
def pause(name: NameArg, json_: JsonOpt = False) -> None:
    """Stop scheduled runs (a run in progress finishes)."""
    _status(name, "paused", json_)


@connector_app.command("resume")
def resume(name: NameArg, json_: JsonOpt = False) -> None:
    """Schedule runs again, from now."""
    _status(name, "active", json_)


def register(app: typer.Typer) -> None:
    app.add_typer(connector_app, name="connector")
