"""``touchflow experiment plan|create|edit|start|show|stop|rollout`` (A5): governed A/B tests on a journey's split
or on its published versions; ``create`` makes a draft, ``start`` starts it (``create --start`` does both)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from touchflow.cli.common import console, fail, load_document, local_actor, open_app, print_json
from touchflow.domain.measurement.experiment_rules import Experiment, ExperimentRefused
from touchflow.services.experiments import (
    analyse_experiment,
    create_experiment,
    list_experiments,
    plan_experiment,
    rollout_experiment,
    start_experiment,
    stop_experiment,
    update_experiment,
)

__all__ = ["LABELS", "register"]

experiment_app = typer.Typer(help="Governed A/B tests on a journey's split or versions (实验).", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
LangOpt = Annotated[str, typer.Option("--lang", help="zh-CN (default) or en")]

LABELS: dict[str, dict[str, str]] = {  # a small catalog until the Babel catalogs of issue 15
    "zh-CN": {"plan": "样本量规划", "fixed": "固定样本检验每组", "sequential": "序贯检验每组", "days": "预计天数",
              "arm": "组", "n": "人数", "rate": "比率", "diff": "差值", "cuped": "CUPED 调整", "p_seq": "序贯 p",
              "p_bh": "BH 校正 p", "srm": "样本比例失衡", "harm": "护栏指标恶化", "state": "状态", "none": "无"},
    "en": {"plan": "Sample-size plan", "fixed": "fixed-horizon per arm", "sequential": "sequential per arm",
           "days": "days needed", "arm": "arm", "n": "n", "rate": "rate", "diff": "difference", "cuped": "CUPED",
           "p_seq": "sequential p", "p_bh": "BH-adjusted p", "srm": "sample-ratio mismatch",
           "harm": "guardrail harm", "state": "state", "none": "none"},
}


def _labels(lang: str) -> dict[str, str]:
    if lang not in LABELS:
        fail(f"--lang: one of {', '.join(LABELS)}")
    return LABELS[lang]


def _document(e: Experiment) -> dict[str, Any]:
    return {"key": e.spec.key, "state": e.state, "spec": e.spec.to_data(), "plan": dict(e.plan),
            "created_at": e.created_at.isoformat(), "created_by": e.created_by,
            "started_at": e.started_at.isoformat() if e.started_at else None,
            "stopped_at": e.stopped_at.isoformat() if e.stopped_at else None, "stop_reason": e.stop_reason,
            "winner": e.winner, "rolled_out_version": e.rolled_out_version, "analysis": e.last_analysis}


def _refused(exc: Exception) -> None:
    if isinstance(exc, ExperimentRefused):
        fail("refused by governance: " + "; ".join(str(r) for r in exc.refusals))
    fail(str(exc))


def _print_plan(plan: dict[str, Any], t: dict[str, str]) -> None:
    console.print(f"{t['plan']}: {t['fixed']} {plan['fixed_per_arm']}, {t['sequential']} "
                  f"{plan['sequential_per_arm']}, {t['days']} {plan['days_needed'] or '?'} "
                  f"(≥ {plan['min_days']})")


@experiment_app.command("plan")
def plan(file: Annotated[Path, typer.Argument(help="the experiment as YAML or JSON")], as_json: JsonOpt = False,
         lang: LangOpt = "zh-CN") -> None:
    """The power / sample-size plan of an experiment, without creating it."""
    t = _labels(lang)
    document = load_document(file, "an experiment")
    with open_app() as app:
        try:
            spec, result = plan_experiment(app.services, document)
        except ValueError as exc:
            _refused(exc)
    if as_json:
        print_json({"key": spec.key, "plan": result})
    else:
        _print_plan(result, t)


@experiment_app.command("create")
def create(file: Annotated[Path, typer.Argument(help="the experiment as YAML or JSON: key, journey, split or "
                                                     "versions (+ shares), arms, primary, guardrails, strata, "
                                                     "baseline, mde (revenue: revenue_baseline, revenue_sd, "
                                                     "revenue_mde in cents)")],
           start: Annotated[bool, typer.Option("--start", help="start it at once (governance checked)")] = False,
           as_json: JsonOpt = False, lang: LangOpt = "zh-CN") -> None:
    """Create a draft experiment and show its plan; ``--start`` starts it too."""
    t = _labels(lang)
    document = load_document(file, "an experiment")
    with open_app() as app:
        try:
            experiment = create_experiment(app.services, document, actor=local_actor(), start=start)
        except ValueError as exc:
            _refused(exc)
    _done(experiment, as_json, t)


def _done(experiment: Experiment, as_json: bool, t: dict[str, str]) -> None:
    if as_json:
        print_json(_document(experiment))
        return
    console.print(f"experiment {experiment.spec.key}: {experiment.state}")
    _print_plan(dict(experiment.plan), t)


@experiment_app.command("edit")
def edit(key: str, file: Annotated[Path, typer.Argument(help="the fields to change, as YAML or JSON")],
         as_json: JsonOpt = False, lang: LangOpt = "zh-CN") -> None:
    """Edit a draft (arms, shares, versions, metrics, strata, plan inputs); the plan is recomputed."""
    t = _labels(lang)
    document = load_document(file, "the changes")
    with open_app() as app:
        try:
            experiment = update_experiment(app.services, key, document, actor=local_actor())
        except ValueError as exc:
            _refused(exc)
    _done(experiment, as_json, t)


@experiment_app.command("start")
def start(key: str, as_json: JsonOpt = False, lang: LangOpt = "zh-CN") -> None:
    """Start a draft: governance checked on the journey as it is now, the power plan recomputed (audited)."""
    t = _labels(lang)
    with open_app() as app:
        try:
            experiment = start_experiment(app.services, key, actor=local_actor())
        except ValueError as exc:
            _refused(exc)
    _done(experiment, as_json, t)


@experiment_app.command("show")
def show(key: Annotated[str | None, typer.Argument(help="an experiment key; none lists them")] = None,
         as_json: JsonOpt = False, lang: LangOpt = "zh-CN") -> None:
    """Analyse an experiment now (per arm and metric), or list every experiment."""
    t = _labels(lang)
    with open_app() as app:
        if key is None:
            rows = [_document(e) for e in list_experiments(app.services)]
            if as_json:
                print_json({"items": rows})
            else:
                for row in rows:
                    where = row["spec"]["split"] or "versions " + ",".join(
                        str(a["version"]) for a in row["spec"]["arms"])
                    console.print(f"{row['key']}  {row['state']}  {row['spec']['journey']}/{where}")
            return
        try:
            experiment, analysis = analyse_experiment(app.services, key, actor=local_actor())
        except ValueError as exc:
            _refused(exc)
    if as_json:
        print_json(_document(experiment))
        return
    console.print(f"{experiment.spec.key}  {t['state']}: {experiment.state}  {analysis.days:.1f}d")
    table = Table(t["arm"], "metric", t["n"], t["rate"], t["diff"], t["cuped"], t["p_seq"], t["p_bh"])
    for m in analysis.metrics:
        def cell(v: float | None, pct: bool = True, money: bool = m.continuous) -> str:
            if v is None:
                return ""
            return f"{v / 100:.2f}" if money else (f"{100 * v:.2f}%" if pct else f"{v:.4f}")
        table.add_row(m.arm, m.metric, str(m.n), cell(m.rate), cell(m.difference), cell(m.cuped_difference),
                      cell(m.p_sequential, False, False), cell(m.p_adjusted, False, False))
    console.print(table)
    console.print(f"{t['srm']}: {', '.join(analysis.srm_flagged) or t['none']};  "
                  f"{t['harm']}: {', '.join(f'{a}/{m}' for a, m in analysis.harm) or t['none']}")


@experiment_app.command("stop")
def stop(key: str, reason: Annotated[str, typer.Option("--reason", help="why it stops")],
         as_json: JsonOpt = False) -> None:
    """Stop a running experiment, or discard a draft, without a winner (audited)."""
    with open_app() as app:
        try:
            experiment = stop_experiment(app.services, key, actor=local_actor(), reason=reason)
        except ValueError as exc:
            _refused(exc)
    if as_json:
        print_json(_document(experiment))
    else:
        console.print(f"experiment {key} stopped")


@experiment_app.command("rollout")
def rollout(key: str, arm: Annotated[str | None, typer.Option("--arm", help="the arm to roll out (default: the "
                                                                            "significant winner)")] = None,
            as_json: JsonOpt = False) -> None:
    """Roll the winner out (a split: a version without it; versions: the winner made live) — if governance
    allows."""
    with open_app() as app:
        try:
            experiment = rollout_experiment(app.services, key, actor=local_actor(), arm=arm)
        except ValueError as exc:
            _refused(exc)
    if as_json:
        print_json(_document(experiment))
    else:
        console.print(f"experiment {key}: {experiment.winner} rolled out as journey "
                      f"{experiment.spec.journey} v{experiment.rolled_out_version}")


def register(app: typer.Typer) -> None:
    app.add_typer(experiment_app, name="experiment")


