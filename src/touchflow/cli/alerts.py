"""``touchflow alert``: metric alert rules, their history and dry runs (A4); ``touchflow metrics explain`` (A3)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from touchflow.cli.common import (
    console,
    fail,
    load_document,
    local_actor,
    local_time,
    open_app,
    print_json,
    workspace_zone,
)
from touchflow.cli.metrics import metrics_app
from touchflow.domain.conditions.durations import format_duration
from touchflow.domain.errors import FieldError
from touchflow.domain.measurement.alert_calibration import Traffic, calibrate
from touchflow.domain.measurement.alert_rules import RuleError, parse_rule
from touchflow.domain.measurement.alerts import METRIC_LABELS
from touchflow.services.alert_actions import alert_notifications
from touchflow.services.alerts import alert_history, evaluate_alerts, list_rules, rule_states, set_rule, test_rule
from touchflow.services.explain import EXPLAIN_DIMENSIONS, explain
from touchflow.services.journeys import JourneyError

__all__ = ["register"]

alert_app = typer.Typer(help="指标告警 Metric alerts: rules, history, dry runs (A4).", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json")]


def _rule_row(rule: Any) -> dict[str, Any]:
    return {"name": rule.name, "metric": rule.metric, "kind": rule.kind, "threshold": rule.threshold,
            "consecutive": rule.consecutive, "min_volume": rule.min_volume, "alpha": rule.alpha,
            "enabled": rule.enabled, "shadow": rule.shadow, "actions": list(rule.actions)}


@alert_app.command("list")
def list_(json_: JsonOpt = False) -> None:
    """Rules in force: the shipped ones (unless replaced by name) and those set with ``alert set``."""
    with open_app() as app:
        rules = list_rules(app.services)
    if json_:
        print_json([r.to_json() for r in rules])
        return
    table = Table("规则 rule", "指标 metric", "类型 kind", "阈值 threshold", "连续 days", "最小量 min", "状态 state",
                  "动作 actions")
    for rule in rules:
        state = ("启用 on" if rule.enabled else "停用 off") + (" · 影子 shadow" if rule.shadow else "")
        threshold = (f"{rule.limit:.2%} / {format_duration(rule.window)}" if rule.kind == "breaker"
                     else f"{rule.threshold:.0%}")
        table.add_row(rule.name, METRIC_LABELS[rule.metric][0] + " " + rule.metric, rule.kind, threshold,
                      str(rule.consecutive) if rule.kind == "daily" else "-", str(rule.min_volume), state,
                      ", ".join(rule.actions))
    console.print(table)


@alert_app.command("show")
def show(name: str, json_: JsonOpt = False) -> None:
    """One rule in full, and its state per journey (streak, last fired, cooldown, armed)."""
    with open_app() as app:
        rules = {r.name: r for r in list_rules(app.services)}
        if name not in rules:
            fail(f"no alert rule {name!r} ({', '.join(rules)})")
        states = [s for s in rule_states(app.services) if s["rule"] == name]
        zone = workspace_zone(app)
    if json_:
        print_json({"rule": rules[name].to_json(), "states": states})
        return
    console.print_json(data=rules[name].to_json())
    for s in states:
        console.print(f"{s['journey']}: {'armed' if s['armed'] else 'disarmed (paused by it)'}, streak "
                      f"{s['consecutive']}, last fired {local_time(s['last_fired'], zone)}")


@alert_app.command("set")
def set_(path: Annotated[Path, typer.Argument(help="the rule, YAML or JSON")], json_: JsonOpt = False) -> None:
    """Add or replace a rule (a shipped rule is replaced by a rule of its name; ``enabled: false`` turns it off)."""
    document = load_document(path, "an alert rule")
    with open_app() as app:
        try:
            rule = set_rule(app.services, document, actor=local_actor().label)
        except RuleError as exc:
            fail(f"{path}: {exc}")
    if json_:
        print_json(rule.to_json())
        return
    console.print(f"alert rule {rule.name} saved")


@alert_app.command("test")
def test(rule: Annotated[str, typer.Argument(help="a rule file (YAML/JSON) or the name of a rule in force")],
         journey: Annotated[str | None, typer.Option(help="dry run on this journey's last --days")] = None,
         days: Annotated[int, typer.Option(min=1, max=120)] = 28,
         simulate: Annotated[bool, typer.Option("--simulate", help="catch and false-alert rates on synthetic "
                                                "traffic with injected drops")] = False,
         journeys: Annotated[int, typer.Option(min=10, max=20000)] = 500, json_: JsonOpt = False) -> None:
    """Try a rule without acting: its decision on each recent day of a journey, or its measured rates."""
    with open_app() as app:
        rules = {r.name: r for r in list_rules(app.services)}
        if rule in rules:
            document = rules[rule].to_json()
        elif Path(rule).is_file():
            document = load_document(Path(rule), "an alert rule")
        else:
            fail(f"rule: neither a rule in force ({', '.join(rules)}) nor a file: {rule!r}")
        try:
            parsed = parse_rule(document)
        except RuleError as exc:
            fail(str(exc))
        if simulate:
            if parsed.direction != "drop":
                fail("--simulate measures drop rules (open_rate, click_rate)")
            figures = calibrate(parsed, Traffic(journeys=journeys)).to_json()
            if json_:
                print_json(figures)
            else:
                for key, value in figures.items():
                    console.print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
            return
        if journey is None:
            fail("--journey: which journey to try the rule on (or --simulate)")
        try:
            outcomes = test_rule(app.services, document, journey, days)
        except (RuleError, JourneyError) as exc:
            fail(str(exc))
    if json_:
        print_json([o.to_json() for o in outcomes])
        return
    table = Table("日 day", "结果 result", "量 trials", "率 rate", "变化 change", "p")
    for o in outcomes:
        d = o.decision.days[-1] if o.decision.days else None
        table.add_row(d.day.isoformat() if d else "-", o.decision.status + (" ▶ act" if o.decision.act else ""),
                      str(d.trials) if d else "-", f"{d.rate:.1%}" if d and d.rate is not None else "-",
                      f"{d.change:+.0%}" if d and d.change is not None else "-",
                      f"{d.p_value:.2g}" if d and d.p_value is not None else "-")
    console.print(table)


@alert_app.command("history")
def history(journey: Annotated[str | None, typer.Option(help="journey key")] = None,
            limit: Annotated[int, typer.Option(min=1, max=10000)] = 100, json_: JsonOpt = False) -> None:
    """Warnings, breach days and triggers (acted, or suppressed: shadow, cooldown, disarmed), newest first."""
    with open_app() as app:
        try:
            found = alert_history(app.services, journey, limit)
        except JourneyError as exc:
            fail(str(exc))
        zone = workspace_zone(app)
    rows = [{"at": r.at.isoformat(), "rule": r.rule, "journey": r.details.get("journey", r.journey_id),
             "status": r.status, "acted": r.acted, "suppressed": r.suppressed, "summary": r.summary,
             "note": r.details.get("note", "")} for r in found]
    if json_:
        print_json(rows)
        return
    table = Table("时间 at", "规则 rule", "旅程 journey", "结果 status", "说明 summary")
    for r, record in zip(rows, found, strict=True):
        status = r["status"] + (" ▶ acted" if r["acted"] else f" ({r['suppressed']})" if r["suppressed"] else "")
        table.add_row(local_time(record.at, zone), r["rule"], str(r["journey"]), status, r["summary"])
    console.print(table)


@alert_app.command("notifications")
def notifications(limit: Annotated[int, typer.Option(min=1, max=10000)] = 100, json_: JsonOpt = False) -> None:
    """Alert notifications to staff and whether they went out (queued, sent, failed: retried, dead), newest first."""
    with open_app() as app:
        found = alert_notifications(app.services, limit)
        zone = workspace_zone(app)
    rows = [{"id": n.id, "rule": n.rule, "journey_id": n.journey_id, "channel": n.channel,
             "recipients": list(n.recipients), "subject": n.subject, "status": n.status, "attempts": n.attempts,
             "created_at": n.created_at.isoformat(), "sent_at": n.sent_at.isoformat() if n.sent_at else None,
             "error": n.error} for n in found]
    if json_:
        print_json(rows)
        return
    table = Table("时间 at", "规则 rule", "收件人 to", "状态 status", "主题 subject")
    for n in found:
        table.add_row(local_time(n.created_at, zone), n.rule, ", ".join(n.recipients),
                      f"{n.status} ×{n.attempts}", n.subject)
    console.print(table)


@alert_app.command("run")
def run(json_: JsonOpt = False) -> None:
    """Evaluate every rule now, as the worker does (daily rules decide each closed day once)."""
    with open_app() as app:
        outcomes = evaluate_alerts(app.services)
    shown = [o.to_json() for o in outcomes if o.decision.status not in ("ok", "low_volume", "no_baseline")]
    if json_:
        print_json(shown)
        return
    for o in shown:
        console.print(f"{o['journey']} · {o['rule']}: {o['status']} {o['summary']}"
                      + (" → paused" if o["paused"] else ""))
    console.print(f"{len(outcomes)} decisions, {len(shown)} not ok")


def _day_start(text: str, field: str, zone: ZoneInfo) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), time(0), zone)
    except ValueError:
        fail(f"{field}: expected a day YYYY-MM-DD, got {text!r}")


@metrics_app.command("explain")
def explain_(metric: Annotated[str, typer.Argument(help="open_rate, click_rate, complaint_rate, "
                                                   "hard_bounce_rate, unsubscribe_rate")],
             journey: Annotated[str, typer.Option(help="journey key")],
             from_: Annotated[str, typer.Option("--from", help="first local day of the period, YYYY-MM-DD")],
             to: Annotated[str, typer.Option("--to", help="last local day of the period (inclusive)")],
             by: Annotated[str, typer.Option(help=", ".join(EXPLAIN_DIMENSIONS))] = "template",
             base_from: Annotated[str | None, typer.Option("--base-from", help="default: the same length "
                                                           "just before")] = None,
             base_to: Annotated[str | None, typer.Option("--base-to")] = None,
             json_: JsonOpt = False) -> None:
    """Why a rate moved: its change split by a dimension into mix shift and rate change, largest first."""
    with open_app() as app:
        zone = workspace_zone(app)
        start = _day_start(from_, "--from", zone)
        end = _day_start(to, "--to", zone) + timedelta(days=1)
        b0 = _day_start(base_from, "--base-from", zone) if base_from else None
        b1 = _day_start(base_to, "--base-to", zone) + timedelta(days=1) if base_to else None
        try:
            found = explain(app.services, metric, journey, start, end, by=by, base_start=b0, base_end=b1)
        except FieldError as exc:
            fail(f"--{exc.field.replace('_', '-')}: {exc.reason}" if exc.field in ("by", "to", "base_to")
                 else str(exc))
        except JourneyError as exc:
            fail(str(exc))
    data = found.to_json()
    if json_:
        print_json(data)
        return
    r = found.result

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    console.print(f"{METRIC_LABELS[metric][0]} {metric} · {journey}: {pct(r.rate0)} → {pct(r.rate1)} "
                  f"({(r.change) * 100:+.1f} pp) = 结构 mix {r.mix * 100:+.1f} pp + 比率 rate {r.rate * 100:+.1f} pp")
    table = Table(by, "占比 share", "比率 rate", "结构 mix (pp)", "比率 rate (pp)", "合计 total (pp)", "p")
    for s in r.segments:
        table.add_row(s.key, f"{s.weight0:.0%} → {s.weight1:.0%}", f"{pct(s.rate0)} → {pct(s.rate1)}",
                      f"{s.mix * 100:+.2f}", f"{s.rate * 100:+.2f}", f"{s.total * 100:+.2f}",
                      "-" if s.p_value is None else f"{s.p_value:.2g}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(alert_app, name="alert")
