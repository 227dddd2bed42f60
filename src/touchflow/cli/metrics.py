"""``touchflow metrics``: message and journey KPIs from the daily rollups (A1), NPS, response times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Annotated, Any

import typer
from rich.table import Table

from touchflow.cli.common import console, fail, open_app, print_json
from touchflow.domain.errors import FieldError
from touchflow.domain.measurement.metrics import DIMENSIONS, MetricRow, rates, row_to_dict
from touchflow.services.metrics import local_today, metric_rows, nps, rebuild_rollups, refresh_rollups, response_times

__all__ = ["LABELS", "kpi_table", "register"]

metrics_app = typer.Typer(help="KPIs: sends, deliveries, opens, clicks, conversions, rates; NPS; response times.",
                          no_args_is_help=True)

# zh-CN first; a later issue moves these into Babel catalogs
LABELS: dict[str, dict[str, str]] = {
    "zh-CN": {"day": "日期", "journey": "旅程", "step": "节点", "template": "模板", "channel": "渠道",
              "segment": "分群", "entered": "进入", "sent": "发送", "delivered": "送达", "open_rate": "打开率",
              "click_rate": "点击率", "click_to_open_rate": "点击/打开", "converted": "转化",
              "conversion_rate": "转化率", "unsubscribed": "退订", "complained": "投诉", "bounced": "退信",
              "skipped": "护栏跳过", "revenue": "收入", "title": "营销指标", "none": "（无）"},
    "en": {"day": "day", "journey": "journey", "step": "step", "template": "template", "channel": "channel",
           "segment": "segment", "entered": "entered", "sent": "sent", "delivered": "delivered",
           "open_rate": "open rate", "click_rate": "click rate", "click_to_open_rate": "click-to-open",
           "converted": "converted", "conversion_rate": "conversion", "unsubscribed": "unsubscribed",
           "complained": "complaints", "bounced": "bounced", "skipped": "skipped", "revenue": "revenue",
           "title": "Metrics", "none": "(none)"},
}
KPI_COLUMNS = ("sent", "delivered", "open_rate", "click_rate", "converted", "unsubscribed", "skipped")
WIDE_COLUMNS = ("entered", "sent", "delivered", "bounced", "open_rate", "click_rate", "click_to_open_rate", "converted",
                "conversion_rate", "unsubscribed", "complained", "skipped", "revenue")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _cell(row: MetricRow, column: str) -> str:
    if column.endswith("_rate"):
        return _percent(rates(row)[column])
    if column == "skipped":
        return f"{row.skipped_total:,}"
    if column == "revenue":
        return f"{row.revenue:,.2f}"
    return f"{getattr(row, column):,}"


def kpi_table(rows: Sequence[MetricRow], by: Sequence[str], *, title: str, locale: str = "zh-CN",
              columns: Sequence[str] = KPI_COLUMNS) -> Table:
    """The rows as a table: the dimensions asked for, then counts and rates (labels in ``locale``)."""
    labels = LABELS.get(locale, LABELS["zh-CN"])
    table = Table(title=title)
    for d in by:
        table.add_column(labels[d], overflow="fold")
    for c in columns:
        table.add_column(labels[c], justify="right", no_wrap=True)
    for row in rows:
        dims = [str(getattr(row, d)) if getattr(row, d) not in (None, "") else labels["none"] for d in by]
        table.add_row(*dims, *(_cell(row, c) for c in columns))
    return table


def _window(from_: str | None, to: str | None, today: date) -> tuple[date, date]:
    try:
        end = date.fromisoformat(to) if to else None
        start = date.fromisoformat(from_) if from_ else None
    except ValueError as exc:
        fail(f"--from/--to: dates are YYYY-MM-DD ({exc})")
    return start or (end or today) - timedelta(days=29), end or today


ByOpt = Annotated[list[str] | None, typer.Option("--by", help=f"group by: {', '.join(DIMENSIONS)} (repeatable)")]
FromOpt = Annotated[str | None, typer.Option("--from", help="first local day, YYYY-MM-DD (default: 30 days ago)")]
ToOpt = Annotated[str | None, typer.Option("--to", help="last local day, YYYY-MM-DD (default: today)")]
JsonOpt = Annotated[bool, typer.Option("--json")]


@metrics_app.command("show")
def show(journey: Annotated[str | None, typer.Option(help="journey key")] = None, from_: FromOpt = None,
         to: ToOpt = None, by: ByOpt = None, lang: Annotated[str, typer.Option(help="zh-CN or en")] = "zh-CN",
         wide: Annotated[bool, typer.Option("--wide", help="every count and rate")] = False,
         json_: JsonOpt = False) -> None:
    """Counts and rates per local day of the workspace zone (or grouped --by other dimensions)."""
    dims = by or ["day"]
    with open_app() as app:
        start, end = _window(from_, to, local_today(app.services))
        refresh_rollups(app.services)
        try:
            found = metric_rows(app.services, start=start, end=end, journey=journey, by=dims)
        except FieldError as exc:
            fail(str(exc))
    if json_:
        print_json({"from": start.isoformat(), "to": end.isoformat(), "journey": journey, "by": dims,
                    "rows": [row_to_dict(r) for r in found]})
        return
    labels = LABELS.get(lang, LABELS["zh-CN"])
    console.print(kpi_table(found, dims, title=f"{labels['title']} {start} – {end}", locale=lang,
                            columns=WIDE_COLUMNS if wide else KPI_COLUMNS))


@metrics_app.command("rebuild")
def rebuild(since: Annotated[str | None, typer.Option(help="first local day to recompute (default: all)")] = None,
            json_: JsonOpt = False) -> None:
    """Recompute the rollups from the raw events and run steps (after changing the workspace time zone, say)."""
    try:
        day = date.fromisoformat(since) if since else None
    except ValueError:
        fail("--since: a date YYYY-MM-DD")
    with open_app() as app:
        report = rebuild_rollups(app.services, day)
        fresh = refresh_rollups(app.services)
    result = {"since": since, "events": report.events + fresh.events, "steps": report.steps + fresh.steps}
    if json_:
        print_json(result)
        return
    console.print(f"rollups rebuilt{' from ' + since if since else ''}: {result['events']:,} events, "
                  f"{result['steps']:,} run steps counted")


@metrics_app.command("nps")
def nps_(from_: FromOpt = None, to: ToOpt = None, json_: JsonOpt = False) -> None:
    """NPS = % promoters (9–10) − % detractors (0–6) of survey_response scores (goal ≥ 50)."""
    with open_app() as app:
        start, end = _window(from_, to, local_today(app.services))
        result = nps(app.services, start=start, end=end)
    data: dict[str, Any] = {"from": start.isoformat(), "to": end.isoformat(), "nps": result.score,
                            "responses": result.responses, "promoters": result.promoters,
                            "passives": result.passives, "detractors": result.detractors, "invalid": result.invalid}
    if json_:
        print_json(data)
        return
    score = "-" if result.score is None else f"{result.score:.1f}"
    console.print(f"NPS {score}（{result.responses:,} 份答卷：推荐 {result.promoters:,} · 中立 {result.passives:,} · "
                  f"贬损 {result.detractors:,}）")


@metrics_app.command("response-times")
def response_times_(days: Annotated[int, typer.Option(min=1, max=366)] = 7, json_: JsonOpt = False) -> None:
    """Ingest acknowledgement p50/p95, event → journey entry lag, lead follow-up timeliness (J11)."""
    with open_app() as app:
        found = response_times(app.services, days=days)
    data = response_times_dict(found)
    if json_:
        print_json(data)
        return
    table = Table("指标 metric", "p50", "p95", "样本 n", title=f"响应时间 response times（{days} 天）")
    table.add_row("事件接收确认 ingest ack (s)", _secs(found.ingest_p50_s), _secs(found.ingest_p95_s),
                  f"{found.ingest_batches:,}")
    table.add_row("事件→进入旅程 entry lag (s)", _secs(found.entry_lag_p50_s), _secs(found.entry_lag_p95_s),
                  f"{found.entries:,}")
    console.print(table)
    for line in data["followup"]:
        if line["scope"] == "team":
            console.print(f"跟进及时率 follow-up ({line['queue']}): {_percent(line['share'])}")


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def response_times_dict(found: Any) -> dict[str, Any]:
    return {"ingest": {"batches": found.ingest_batches, "p50_s": found.ingest_p50_s, "p95_s": found.ingest_p95_s},
            "entry_lag": {"runs": found.entries, "p50_s": found.entry_lag_p50_s, "p95_s": found.entry_lag_p95_s},
            "followup": [{"scope": r.scope, "queue": r.queue, "assignee": r.assignee, "share": r.share,
                          "within_sla": r.within_sla, "late": r.done_late + r.open_late,
                          "p50_response_s": None if r.p50_response is None else r.p50_response.total_seconds(),
                          "p90_response_s": None if r.p90_response is None else r.p90_response.total_seconds()}
                         for r in found.followup]}


def register(app: typer.Typer) -> None:
    app.add_typer(metrics_app, name="metrics")
