"""``/measure/experiments`` (A5): the list with status, a plan with the power calculator, results with their
intervals, and stop / roll out. Reading needs ``reports.read``; planning reads only; starting, stopping and
rolling out change what contacts receive and need ``journeys.publish`` — as on ``/v1/experiments``.

The view passes the form to ``services.experiments`` as the same mapping the API's YAML body is, so whatever the
service learns (drafts, versions) the page keeps working; refusals name their governance rule.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.routes import api_state
from touchflow.console.auth import ConsoleUser, Me, allow, services
from touchflow.console.errors import problem_of
from touchflow.console.forms import FormError, read_form
from touchflow.console.i18n import N_
from touchflow.console.templating import render
from touchflow.console.views.settings_support import back
from touchflow.domain.errors import FieldError
from touchflow.domain.measurement.experiment_rules import METRICS, VARIABLES, ExperimentRefused
from touchflow.services.experiments import (
    ExperimentError,
    create_experiment,
    experiment_report,
    list_experiments,
    plan_experiment,
    rollout_experiment,
    stop_experiment,
)
from touchflow.services.journeys import list_journeys

__all__ = ["router"]

router = APIRouter()
STATES = {"draft": N_("Draft"), "running": N_("Running"), "stopped": N_("Stopped"), "rolled_out": N_("Rolled out")}
METRIC_LABELS = {"conversion": N_("Conversion"), "click": N_("Click"), "open": N_("Open"),
                 "unsubscribe": N_("Unsubscribe"), "complaint": N_("Complaint")}
VARIABLE_LABELS = {"send_time": N_("Send time"), "copy": N_("Copy"), "channel_mix": N_("Channel mix"),
                   "other": N_("Other")}
_NUMBERS = ("baseline", "mde", "alpha", "power")


def experiment_request(form: dict[str, str]) -> dict[str, Any]:
    """The form as the experiment document the API takes (YAML/JSON body); ``FieldError`` names a bad number."""
    raw: dict[str, Any] = {k: form[k].strip() for k in ("key", "name", "journey", "split", "primary", "variable")
                           if form.get(k, "").strip()}
    for name in _NUMBERS:
        text = form.get(name, "").strip()
        if text:
            try:
                raw[name] = float(text)
            except ValueError:
                raise FieldError(name, "a number such as 0.05") from None
    strata = [s.strip() for s in form.get("strata", "").replace("，", ",").split(",") if s.strip()]
    if strata:
        raw["strata"] = strata
    arms = [a.strip() for a in form.get("arms", "").replace("，", ",").split(",") if a.strip()]
    if arms:
        raw["arms"] = arms
    return raw


def _refusal(exc: Exception) -> list[dict[str, Any]]:
    """Each governance rule refused (named by its code), or the one field refused, through the catalogs."""
    if isinstance(exc, ExperimentRefused):
        return [{"rule": r.rule, "message": r.message} for r in exc.refusals]
    if isinstance(exc, ExperimentError | FieldError):
        return [{"problem": problem_of(FieldError(exc.field, exc.reason))}]
    return [{"problem": problem_of(exc)}]


async def _list_page(request: Request, me: ConsoleUser, status: int = 200, **values: Any) -> Response:
    ctx = services(request)
    found = await run_in_threadpool(list_experiments, ctx)
    journeys = await run_in_threadpool(list_journeys, ctx)
    return render(request, me, "measure/experiments.html",
                  {"title": N_("Experiments"), "experiments": found, "states": STATES, "metrics": METRIC_LABELS,
                   "metric_keys": METRICS, "variables": VARIABLE_LABELS, "variable_keys": VARIABLES,
                   "journeys": [j for j in journeys if j.current_version], "can_run": me.can("journeys.publish"),
                   "form": {}, "plan": None, "refusals": [], **values}, status_code=status)


@router.get("/measure/experiments", **allow("reports.read"))
async def experiments_page(request: Request, me: Me) -> Response:
    return await _list_page(request, me)


@router.post("/measure/experiments/plan", **allow("reports.read"))
async def experiments_plan(request: Request, me: Me) -> Response:
    """The power calculator: sample size per arm and days needed at the split's recent traffic; creates nothing."""
    form: dict[str, str] = {}
    try:
        form = await read_form(request)
        _, plan = await run_in_threadpool(plan_experiment, services(request), experiment_request(form))
    except (FieldError, FormError, ValueError) as exc:
        return await _list_page(request, me, 422, form=form, refusals=_refusal(exc))
    return await _list_page(request, me, form=form, plan=plan)


@router.post("/measure/experiments", **allow("journeys.publish"))
async def experiments_start(request: Request, me: Me) -> Response:
    state = api_state(request)
    form: dict[str, str] = {}
    try:
        form = await read_form(request)
        created = await state.write(create_experiment, state.services, experiment_request(form),
                                    actor=me.principal.actor, start=True)  # the page's button starts it
    except (FieldError, FormError, ValueError) as exc:
        return await _list_page(request, me, 422, form=form, refusals=_refusal(exc))
    return back(f"/measure/experiments/{created.spec.key}", done="started")


async def _detail(request: Request, me: ConsoleUser, key: str, status: int = 200, **values: Any) -> Response:
    try:
        found, analysis = await run_in_threadpool(experiment_report, services(request), key[:64])
    except ExperimentError as exc:
        return render(request, me, "measure/experiment_missing.html", {"title": N_("Experiments"), "key": key,
                                                                        "reason": exc.reason},
                      status_code=exc.status)
    return render(request, me, "measure/experiment.html",
                  {"title": N_("Experiment"), "e": found, "a": analysis, "states": STATES, "metrics": METRIC_LABELS,
                   "variables": VARIABLE_LABELS, "can_run": me.can("journeys.publish"), "refusals": [],
                   "done": "", **values}, status_code=status)


@router.get("/measure/experiments/{key}", **allow("reports.read"))
async def experiment_page(request: Request, me: Me, key: str, done: str = "") -> Response:
    return await _detail(request, me, key, done=done if done in ("started", "stopped", "rolled_out") else "")


@router.post("/measure/experiments/{key}/stop", **allow("journeys.publish"))
async def experiment_stop(request: Request, me: Me, key: str) -> Response:
    state = api_state(request)
    try:
        form = await read_form(request)
        await state.write(stop_experiment, state.services, key[:64], actor=me.principal.actor,
                          reason=form.get("reason", "")[:500])
    except (FieldError, FormError, ValueError) as exc:
        return await _detail(request, me, key, 422, refusals=_refusal(exc))
    return back(f"/measure/experiments/{key[:64]}", done="stopped")


@router.post("/measure/experiments/{key}/rollout", **allow("journeys.publish"))
async def experiment_rollout(request: Request, me: Me, key: str) -> Response:
    """Roll the winner out as a new journey version, if governance allows (≥ 14 days, 95 %, no harm, no SRM)."""
    state = api_state(request)
    try:
        form = await read_form(request)
        await state.write(rollout_experiment, state.services, key[:64], actor=me.principal.actor,
                          arm=form.get("arm") or None)
    except (FieldError, FormError, ValueError) as exc:
        return await _detail(request, me, key, 422, refusals=_refusal(exc))
    return back(f"/measure/experiments/{key[:64]}", done="rolled_out")
