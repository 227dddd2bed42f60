"""``touchflow attribution``: revenue credited to touches, ROI, touchpoint ranking, holdout uplift, channel costs."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from touchflow.cli.common import console, fail, local_actor, open_app, print_json, workspace_zone
from touchflow.domain.errors import FieldError
from touchflow.domain.measurement.attribution import Model
from touchflow.services.attribution import (
    attribution_report,
    attribution_settings,
    journey_uplift,
    roi_report,
    set_costs,
    set_window,
    touchpoint_ranking,
)
from touchflow.services.attribution_documents import (
    attribution_document,
    ranking_document,
    roi_document,
    settings_document,
    uplift_document,
    workspace_group_document,
    workspace_uplift_document,
)
from touchflow.services.workspace_holdout import (
    end_workspace_holdout,
    set_workspace_holdout,
    workspace_holdouts,
    workspace_uplift,
)

__all__ = ["LABELS", "register"]

attribution_app = typer.Typer(help="归因 Attribution: which touches earned the orders, ROI, touchpoints, uplift.",
                              no_args_is_help=True)
holdout_app = typer.Typer(help="工作区对照组 Workspace control group: contacts no journey treats.",
                           no_args_is_help=True)
costs_app = typer.Typer(help="Cost per message per channel (yuan), for ROI and cost per acquisition.",
                        no_args_is_help=True)

Lang = Literal["zh", "en"]
LABELS: dict[Lang, dict[str, str]] = {
    "zh": {"orders": "订单", "revenue": "收入", "attributed": "已归因", "unattributed": "未归因", "channel": "渠道",
           "journey": "旅程", "period": "周期", "touchpoint": "触点", "conversions": "转化", "touches": "触达",
           "cost": "成本", "roi": "ROI", "cpa": "获客成本", "per_touch": "转化/触达", "median": "中位天数",
           "p90": "P90 天数", "contacts": "联系人", "sales_cycle": "销售周期", "arm": "组别", "treated": "实验组",
           "control": "对照组", "rate": "转化率", "uplift": "提升", "ci": "置信区间", "rev_uplift": "人均收入提升",
           "model": "模型", "window": "窗口"},
    "en": {"orders": "orders", "revenue": "revenue", "attributed": "attributed", "unattributed": "unattributed",
           "channel": "channel", "journey": "journey", "period": "period", "touchpoint": "touchpoint",
           "conversions": "conversions", "touches": "touches", "cost": "cost", "roi": "ROI", "cpa": "CPA",
           "per_touch": "conv/touch", "median": "median days", "p90": "p90 days", "contacts": "contacts",
           "sales_cycle": "sales cycle", "arm": "arm", "treated": "treated", "control": "control", "rate": "rate",
           "uplift": "uplift", "ci": "CI", "rev_uplift": "revenue/contact uplift", "model": "model",
           "window": "window"},
}

JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on standard output")]
LangOpt = Annotated[str, typer.Option("--lang", help="zh (default) or en")]
FromOpt = Annotated[str | None, typer.Option("--from", help="start: 2026-03-01 or an ISO time (default: 30 days ago)")]
ToOpt = Annotated[str | None, typer.Option("--to", help="end, exclusive (default: now)")]
ModelOpt = Annotated[str, typer.Option("--model", help="last, first or linear")]


def _labels(lang: str) -> dict[str, str]:
    if lang not in LABELS:
        fail("--lang: zh or en")
    return LABELS[lang]


def _when(text: str | None, option: str, zone: ZoneInfo) -> datetime | None:
    """A date is midnight in the workspace's zone; a time without an offset is read in that zone too."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        fail(f"{option}: a date (2026-03-01) or an ISO time, got {text[:40]!r}")
    if len(text) == 10:
        parsed = datetime.combine(parsed.date(), time(0))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _model(text: str) -> Model:
    if text not in ("last", "first", "linear"):
        fail("--model: last, first or linear")
    return text  # type: ignore[return-value]


def _num(value: Any) -> str:
    return "-" if value is None else str(value)


@attribution_app.command("show")
def show(model: ModelOpt = "last", journey: Annotated[str | None, typer.Option("--journey")] = None,
         start: FromOpt = None, end: ToOpt = None, as_json: JsonOpt = False, lang: LangOpt = "zh") -> None:
    """Orders paid in the span credited to the touches of the window before each (last, first or linear)."""
    labels = _labels(lang)
    with open_app() as app:
        zone = workspace_zone(app)
        try:
            doc = attribution_document(attribution_report(
                app.services, model=_model(model), journey=journey, start=_when(start, "--from", zone),
                end=_when(end, "--to", zone)))
        except (FieldError, LookupError) as exc:
            fail(str(exc))
    if as_json:
        print_json(doc)
        return
    console.print(f"{labels['model']} {doc['model']}, {labels['window']} {doc['window']}: {doc['orders']} "
                  f"{labels['orders']}, {labels['revenue']} ¥{doc['revenue']}; {labels['attributed']} "
                  f"{doc['attributed']['orders']} (¥{doc['attributed']['revenue']}), {labels['unattributed']} "
                  f"{doc['unattributed']['orders']} (¥{doc['unattributed']['revenue']})", markup=False)
    for key, title in (("by_channel", "channel"), ("by_journey", "journey"), ("by_touchpoint", "touchpoint")):
        table = Table(labels[title], labels["conversions"], labels["revenue"], title=labels[title])
        for row in doc[key]:
            table.add_row(row["name"], f"{row['conversions']:g}", f"¥{row['revenue']}")
        console.print(table)


def _group_table(rows: list[dict[str, Any]], first: str, labels: dict[str, str]) -> Table:
    table = Table(first, labels["touches"], labels["cost"], labels["conversions"], labels["revenue"], labels["roi"],
                  labels["cpa"], labels["per_touch"])
    for row in rows:
        table.add_row(row["group"], str(row["touches"]), f"¥{row['cost']}", f"{row['conversions']:g}",
                      f"¥{row['revenue']}", _num(row["roi"]), _num(row["cpa"] and f"¥{row['cpa']}"),
                      f"{row['conversions_per_touch']:.4f}")
    return table


@attribution_app.command("roi")
def roi(by: Annotated[str, typer.Option("--by", help="journey, channel or period")] = "journey",
        period: Annotated[str, typer.Option("--period", help="with --by period: day, week or month")] = "month",
        model: ModelOpt = "last", journey: Annotated[str | None, typer.Option("--journey")] = None,
        start: FromOpt = None, end: ToOpt = None, as_json: JsonOpt = False, lang: LangOpt = "zh") -> None:
    """Cost, attributed revenue, ROI = (revenue − cost) / cost, cost per acquisition, and the sales cycle."""
    labels = _labels(lang)
    if by not in ("journey", "channel", "period"):
        fail("--by: journey, channel or period")
    if period not in ("day", "week", "month"):
        fail("--period: day, week or month")
    with open_app() as app:
        zone = workspace_zone(app)
        try:
            doc = roi_document(roi_report(app.services, by=by, model=_model(model), journey=journey,  # type: ignore[arg-type]
                                          start=_when(start, "--from", zone), end=_when(end, "--to", zone),
                                          period=period, tz=zone))  # type: ignore[arg-type]
        except (FieldError, LookupError) as exc:
            fail(str(exc))
    if as_json:
        print_json(doc)
        return
    console.print(_group_table([*doc["rows"], doc["total"]], labels[by], labels))
    cycles = Table(labels[by], labels["contacts"], labels["median"], labels["p90"], title=labels["sales_cycle"])
    for row in doc["sales_cycle"]:
        cycles.add_row(row["group"], str(row["contacts"]), _num(row["median_days"]), _num(row["p90_days"]))
    console.print(cycles)


@attribution_app.command("touchpoints")
def touchpoints(model: ModelOpt = "linear", start: FromOpt = None, end: ToOpt = None, as_json: JsonOpt = False,
                lang: LangOpt = "zh") -> None:
    """C2: channels and touchpoints (journey/step/template) by conversions per touch, then cost per conversion."""
    labels = _labels(lang)
    with open_app() as app:
        zone = workspace_zone(app)
        try:
            doc = ranking_document(touchpoint_ranking(app.services, model=_model(model),
                                                      start=_when(start, "--from", zone), end=_when(end, "--to", zone)))
        except FieldError as exc:
            fail(str(exc))
    if as_json:
        print_json(doc)
        return
    console.print(_group_table(doc["channels"], labels["channel"], labels))
    console.print(_group_table(doc["touchpoints"], labels["touchpoint"], labels))


@attribution_app.command("uplift")
def uplift(journey: Annotated[str | None, typer.Option("--journey", help="journey key")] = None,
           workspace: Annotated[bool, typer.Option("--workspace", help="the workspace control groups")] = False,
           confidence: Annotated[float, typer.Option("--confidence", min=0.5, max=0.999)] = 0.95,
           as_json: JsonOpt = False, lang: LangOpt = "zh") -> None:
    """Every control group of the journey (or of the workspace): conversion and revenue per contact, treated vs
    held out, with a CI."""
    labels = _labels(lang)
    if workspace == (journey is not None):
        fail("give either --journey KEY or --workspace")
    if journey is None:
        _workspace_uplift(confidence, as_json, labels)
        return
    with open_app() as app:
        try:
            doc = uplift_document(journey, journey_uplift(app.services, journey, confidence=confidence))
        except (FieldError, LookupError) as exc:
            fail(str(exc))
    if as_json:
        print_json(doc)
        return
    if not doc["holdouts"]:
        console.print(f"{journey}: no control group (add holdout: {{share: 0.1}} to the journey)")
    for group in doc["holdouts"]:
        table = Table(labels["arm"], labels["contacts"], labels["conversions"], labels["rate"],
                      title=f"{journey} v{group['version']} holdout {group['key']} ({group['share']:.0%}), "
                            f"{group['goal_event']}")
        for arm in ("treated", "control"):
            table.add_row(labels[arm], str(group[arm]["entrants"]), str(group[arm]["converted"]),
                          _num(group[arm]["rate"]))
        console.print(table)
        lift, money = group["uplift"], group["revenue_per_contact_uplift"]
        if lift is not None:
            console.print(f"{labels['uplift']} {lift['estimate']:+.4f} ({labels['ci']} {confidence:.0%}: "
                          f"{lift['low']:+.4f} … {lift['high']:+.4f}); "
                          f"{labels['rev_uplift']} ¥{money['estimate']:+.2f} "
                          f"({money['low']:+.2f} … {money['high']:+.2f})", markup=False)


def _print_uplift(lift: Any, money: Any, confidence: float, labels: dict[str, str]) -> None:
    if lift is not None:
        console.print(f"{labels['uplift']} {lift['estimate']:+.4f} ({labels['ci']} {confidence:.0%}: "
                      f"{lift['low']:+.4f} … {lift['high']:+.4f}); "
                      f"{labels['rev_uplift']} ¥{money['estimate']:+.2f} "
                      f"({money['low']:+.2f} … {money['high']:+.2f})", markup=False)


def _workspace_uplift(confidence: float, as_json: bool, labels: dict[str, str]) -> None:
    with open_app() as app:
        try:
            doc = workspace_uplift_document(workspace_uplift(app.services, confidence=confidence))
        except FieldError as exc:
            fail(str(exc))
    if as_json:
        print_json(doc)
        return
    if not doc["holdouts"]:
        console.print("no workspace control group (touchflow attribution holdout set --share 0.05)")
    for group in doc["holdouts"]:
        table = Table(labels["arm"], labels["contacts"], labels["conversions"], labels["rate"],
                      title=f"workspace holdout {group['key']} ({group['share']:.0%}) "
                            f"{group['started_at'][:16]} → {(group['ended_at'] or group['measured_to'])[:16]}")
        for arm in ("treated", "control"):
            table.add_row(labels[arm], str(group[arm]["contacts"]), str(group[arm]["converted"]),
                          _num(group[arm]["rate"]))
        console.print(table)
        _print_uplift(group["uplift"], group["revenue_per_contact_uplift"], confidence, labels)


@holdout_app.command("set")
def holdout_set(share: Annotated[float, typer.Option("--share", help="0 < share ≤ 0.2, e.g. 0.05")],
                key: Annotated[str | None, typer.Option("--key", help="assignment salt (default: by date)")] = None,
                as_json: JsonOpt = False) -> None:
    """Start a workspace control group (audited); a running one ends now and stays queryable."""
    with open_app() as app:
        try:
            group = set_workspace_holdout(app.services, share, key, actor=local_actor().label)
        except FieldError as exc:
            fail(str(exc))
    doc = workspace_group_document(group)
    if as_json:
        print_json(doc)
    else:
        console.print(f"workspace holdout {doc['key']}: {doc['share']:.1%} from {doc['started_at']}", markup=False)


@holdout_app.command("show")
def holdout_show(as_json: JsonOpt = False) -> None:
    """Every workspace control group, newest first (the running one has no end)."""
    with open_app() as app:
        doc = {"holdouts": [workspace_group_document(g) for g in workspace_holdouts(app.services)]}
    if as_json:
        print_json(doc)
        return
    if not doc["holdouts"]:
        console.print("no workspace control group")
    for g in doc["holdouts"]:
        console.print(f"{g['key']} {g['share']:.1%} {g['started_at']} → {g['ended_at'] or 'running'}", markup=False)


@holdout_app.command("end")
def holdout_end(as_json: JsonOpt = False) -> None:
    """End the running workspace control group (audited); its contacts enter journeys again."""
    with open_app() as app:
        ended = end_workspace_holdout(app.services, actor=local_actor().label)
    if ended is None:
        fail("no workspace control group is running")
    doc = workspace_group_document(ended)
    if as_json:
        print_json(doc)
    else:
        console.print(f"workspace holdout {doc['key']} ended {doc['ended_at']}", markup=False)


@costs_app.command("show")
def costs_show(as_json: JsonOpt = False) -> None:
    """The attribution window and the cost per message of each channel set (others use the defaults)."""
    with open_app() as app:
        doc = settings_document(attribution_settings(app.services))
    if as_json:
        print_json(doc)
        return
    console.print(f"window {doc['window']}", markup=False)
    for channel, cost in doc["costs"].items():
        console.print(f"{channel}={cost}", markup=False)


@costs_app.command("set")
def costs_set(pairs: Annotated[list[str], typer.Argument(help="channel=yuan per message, e.g. sms=0.045")],
              as_json: JsonOpt = False) -> None:
    """Set some channels' cost per message (audited)."""
    updates: dict[str, object] = {}
    for pair in pairs:
        channel, sep, value = pair.partition("=")
        if not sep or not channel:
            fail(f"{pair[:40]!r}: expected channel=cost, such as sms=0.045")
        updates[channel.strip()] = value.strip()
    with open_app() as app:
        try:
            doc = settings_document(set_costs(app.services, updates, actor=local_actor().label))
        except FieldError as exc:
            fail(str(exc))
    if as_json:
        print_json(doc)
    else:
        console.print("costs: " + ", ".join(f"{k}={v}" for k, v in doc["costs"].items()), markup=False)


@attribution_app.command("window")
def window(value: Annotated[str, typer.Argument(help="a duration such as 7d (at most 90d)")],
           as_json: JsonOpt = False) -> None:
    """Set how long before an order a touch may earn credit (default 7d; audited)."""
    with open_app() as app:
        try:
            doc = settings_document(set_window(app.services, value, actor=local_actor().label))
        except FieldError as exc:
            fail(str(exc))
    if as_json:
        print_json(doc)
    else:
        console.print(f"window {doc['window']}", markup=False)


def register(app: typer.Typer) -> None:
    attribution_app.add_typer(costs_app, name="costs")
    attribution_app.add_typer(holdout_app, name="holdout")
    app.add_typer(attribution_app, name="attribution")
