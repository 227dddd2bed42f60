"""``touchflow lifecycle``, ``tiers`` and ``score``: stages, tiers and lead scores (S1, S2, S5)."""

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
    load_document,
    local_actor,
    local_time,
    one_format,
    open_app,
    print_json,
    workspace_zone,
)
from touchflow.domain.errors import PathError
from touchflow.domain.scoring.model import model_document
from touchflow.services.contacts import ContactNotFound
from touchflow.services.lifecycle import current_lifecycle, set_lifecycle_config, stage_history
from touchflow.services.lifecycle_pass import refresh_all
from touchflow.services.scoring import (
    ProposalNotFound,
    accept_proposal,
    calibration_report,
    model_in_force,
    record_feedback,
    rescore_all,
    save_model,
    score_history,
    score_of,
)
from touchflow.services.tiers import current_tiers, set_tier_config

__all__ = ["register"]

lifecycle_app = typer.Typer(help="Lifecycle stages (新访客 → 潜在 → 意向 → 成交 → 沉睡): rules and history.",
                            no_args_is_help=True)
tiers_app = typer.Typer(help="Tiers: activity 高/中/低, buying stage 认知/考虑/决策, value VIP/普通/潜在.",
                        no_args_is_help=True)
score_app = typer.Typer(help="Lead scores: the model, rescoring, calibration, a contact's score.", no_args_is_help=True)
model_app = typer.Typer(help="The scoring model: show, set (a new version), rescore, calibrate, accept.",
                        no_args_is_help=True)




def _show(document: object, as_json: bool) -> None:
    if as_json:
        print_json(document)
    else:
        console.print(yaml.safe_dump(document, allow_unicode=True, sort_keys=False).rstrip(), markup=False)


@lifecycle_app.command("show")
def lifecycle_show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The stages and rules in force (the defaults until set)."""
    with open_app() as app:
        document = current_lifecycle(app.services)
    _show(document, as_json)


@lifecycle_app.command("set")
def lifecycle_set(file: Path) -> None:
    """Replace the stages and rules (YAML/JSON, as `lifecycle show` prints them)."""
    document = load_document(file)
    with open_app() as app:
        try:
            config = set_lifecycle_config(app.services, document, actor=local_actor().label)
        except PathError as exc:
            fail(str(exc))
    console.print(f"lifecycle set: {' → '.join(s.label for s in config.stages)}, {len(config.rules)} rules")


@lifecycle_app.command("history")
def lifecycle_history(ref: str, as_json: Annotated[bool, typer.Option("--json")] = False,
                      as_csv: CsvOpt = False) -> None:
    """A contact's stage history, oldest first."""
    with open_app() as app:
        try:
            cid, rows = stage_history(app.services, ref)
        except ContactNotFound:
            fail(f"no contact {ref!r}")
        zone = workspace_zone(app)
    one_format(as_json, as_csv)
    if as_json:
        print_json({"contact_id": cid, "history": [{"at": r.at.isoformat(), "from": r.from_stage, "stage": r.stage,
                                                    "rule": r.rule, "by": r.by} for r in rows]})
        return
    data: list[dict[str, Any]] = [{"contact_id": cid, "at": r.at, "from": r.from_stage, "stage": r.stage,
                                   "rule": r.rule, "by": r.by} for r in rows]
    if emit_rows(data, ["contact_id", "at", "from", "stage", "rule", "by"], as_json=False, as_csv=as_csv, zone=zone):
        return
    table = Table(f"at ({zone.key})", "from", "to", "rule", "by", title=f"contact {cid}")
    for row in data:
        table.add_row(local_time(row["at"], zone), row["from"] or "-", row["stage"], row["rule"], row["by"])
    console.print(table)


@lifecycle_app.command("refresh")
def lifecycle_refresh() -> None:
    """Recompute scores, tiers and stages of every contact now (the worker also does it daily)."""
    with open_app() as app:
        report = refresh_all(app.services)
    console.print(f"{report.contacts} contacts: {report.stage_changes} stage moves, {report.tier_changes} tier changes")


@tiers_app.command("show")
def tiers_show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    with open_app() as app:
        document = current_tiers(app.services)
    _show(document, as_json)


@tiers_app.command("set")
def tiers_set(file: Path) -> None:
    """Replace the thresholds (YAML/JSON, as `tiers show` prints them)."""
    document = load_document(file)
    with open_app() as app:
        try:
            set_tier_config(app.services, document, actor=local_actor().label)
        except PathError as exc:
            fail(str(exc))
    console.print("tiers set; run `touchflow tiers refresh` to apply them to everyone now")


tiers_app.command("refresh", help="Recompute tiers (with scores and stages) of every contact now.")(lifecycle_refresh)


@model_app.command("show")
def model_show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    with open_app() as app:
        model = model_in_force(app.services)
    document = {"version": model.version, **model_document(model)}
    _show(document, as_json)


@model_app.command("set")
def model_set(file: Path,
              note: Annotated[str, typer.Option()] = "") -> None:
    """Save a model as the next version (then `score model rescore`)."""
    document = load_document(file)
    with open_app() as app:
        try:
            model = save_model(app.services, document, actor=local_actor().label, note=note)
        except PathError as exc:
            fail(str(exc))
    console.print(f"scoring model {model.name!r} saved as version {model.version}")


@model_app.command("rescore")
def model_rescore() -> None:
    """Score every contact with the model in force."""
    with open_app() as app:
        done = rescore_all(app.services)
    console.print(f"rescored {done} contacts")


@model_app.command("calibrate")
def model_calibrate(days: Annotated[int, typer.Option(min=1, max=365, help="conversion window")] = 30,
                    as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Score bands against orders paid in the following DAYS and sales feedback; proposals to accept."""
    with open_app() as app:
        report, proposals = calibration_report(app.services, days)
    bands = [{"low": b.low, "high": b.high, "contacts": b.contacts, "converted": b.positives, "rate": b.rate,
              "lift": b.lift} for b in report.bands]
    at = report.at_mql
    if as_json:
        print_json({"model_version": report.model_version, "contacts": report.contacts,
                    "positives": report.positives, "base_rate": report.base_rate, "bands": bands,
                    "at_mql": None if at is None else {"threshold": at.threshold, "precision": at.precision,
                                                       "recall": at.recall},
                    "proposals": [{"id": p.id, "summary": p.summary} for p in proposals]})
        return
    table = Table("band", "contacts", "converted", "rate", "lift", title=f"model v{report.model_version}")
    for b in bands:
        rate = "-" if b["rate"] is None else f"{b['rate']:.0%}"
        table.add_row(f"{b['low']:g}–{'' if b['high'] is None else format(b['high'], 'g')}", str(b["contacts"]),
                      str(b["converted"]), rate, "-" if b["lift"] is None else f"{b['lift']:.2f}×")
    console.print(table)
    if at is not None:
        console.print(f"at the MQL threshold {at.threshold:g}: precision {at.precision or 0:.0%}, "
                      f"recall {at.recall or 0:.0%}")
    for p in proposals:
        console.print(f"proposal {p.id}: {p.summary}  (touchflow score model accept {p.id})")


@model_app.command("accept")
def model_accept(proposal_id: str) -> None:
    """Accept a calibration proposal: the changed model is saved as a new version."""
    with open_app() as app:
        try:
            model = accept_proposal(app.services, proposal_id, actor=local_actor().label)
        except (ProposalNotFound, ValueError) as exc:
            fail(str(exc))
    console.print(f"accepted: scoring model version {model.version}; run `touchflow score model rescore`")


@score_app.command("show")
def score_show(ref: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """A contact's score now, each rule's part, and its history."""
    with open_app() as app:
        try:
            score = score_of(app.services, ref)
            history = score_history(app.services, ref, 20)
        except ContactNotFound:
            fail(f"no contact {ref!r}")
    if as_json:
        print_json({"contact_id": score.contact_id, "score": score.score, "model_version": score.model_version,
                    "parts": score.parts, "history": [{"score": h.score, "model_version": h.model_version,
                                                       "at": h.at.isoformat()} for h in history]})
        return
    console.print(f"contact {score.contact_id}: score {score.score:g} (model v{score.model_version})")
    for name, points in score.parts.items():
        console.print(f"  {name}: {points:+g}")


@score_app.command("feedback")
def score_feedback(ref: str, verdict: Annotated[str, typer.Argument(help="good or bad")], note: str = "") -> None:
    """Sales marks a lead good or bad (calibration reads it); recorded as the OS account running the command."""
    with open_app() as app:
        try:
            record_feedback(app.services, ref, verdict, by=local_actor().label, note=note)
        except ContactNotFound:
            fail(f"no contact {ref!r}")
        except ValueError as exc:
            fail(str(exc))
    console.print(f"feedback recorded: {verdict}")


def register(app: typer.Typer) -> None:
    score_app.add_typer(model_app, name="model")
    app.add_typer(lifecycle_app, name="lifecycle")
    app.add_typer(tiers_app, name="tiers")
    app.add_typer(score_app, name="score")
