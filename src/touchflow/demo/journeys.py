"""The demo's journeys: the spec's flows run over the sample company's own contacts for 90 days.

Every contact of the demo database becomes a sandbox persona carrying its attributes, its tags and
its history; its events of the last ``days`` days are replayed in virtual time, a day at a time. Reactions to the
messages the journeys send (opens, clicks, purchases, survey answers) are drawn with seeded
probabilities, because sample data cannot know how people would have answered. The demo database
itself is only read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import cast

import touchflow
from touchflow.bootstrap import bootstrap, open_sandbox
from touchflow.config import Settings
from touchflow.domain.events import JSONValue
from touchflow.domain.journeys.scenarios import Behaviour, MessageFilter, Persona, Reaction, Scenario, ScriptedEvent
from touchflow.domain.measurement.metrics import MetricRow
from touchflow.domain.safe_yaml import load_yaml
from touchflow.engine.simulator import simulate
from touchflow.services.content import save_template, template_history
from touchflow.services.context import ServiceContext
from touchflow.services.guarding import message_outcomes
from touchflow.services.journeys import journey_stats
from touchflow.services.metrics import metric_rows, refresh_rollups

__all__ = ["JourneyOutcome", "examples_dir", "save_example_templates", "simulate_company"]

# Types worth replaying: what triggers, waits, goals and conditions of the example journeys read.
_REPLAYED = ("content_download", "signup", "consult", "quote_opened", "order_paid", "form_submit", "page_view",
             "coupon_claimed", "coupon_redeemed", "survey_response", "complaint", "unsubscribe")
_BEHAVIOUR = Behaviour(open=0.35, click=0.08, purchase=0.02, delay=timedelta(hours=3), reactions=(
    Reaction("survey_response", MessageFilter(template="satisfaction_survey_30d"),
             {"survey_id": "post_purchase_30d", "score": 9}, probability=0.3),
    Reaction("survey_response", MessageFilter(template="satisfaction_survey_30d"),
             {"survey_id": "post_purchase_30d", "score": 4}, probability=0.1),
    Reaction("coupon_claimed", MessageFilter(template="welcome_back_coupon_features"), {"coupon_id": "welcome_back"},
             probability=0.12),
))


@dataclass
class JourneyOutcome:
    key: str
    name: str
    entered: int
    converted: int
    messages: dict[str, int] = field(default_factory=dict)
    kpi: MetricRow | None = None  # the replay's counts and rates from the metric rollups


def examples_dir() -> Path | None:
    """``examples/journeys`` of the source tree (the demo runs from a checkout: `pip install -e .`)."""
    found = Path(touchflow.__file__).resolve().parents[2] / "examples" / "journeys"
    return found if found.is_dir() else None


def save_example_templates(ctx: ServiceContext) -> list[str]:
    """Save ``examples/templates/templates.yaml`` into the asset library (a version only where the copy changed),
    so the example journeys publish with every template in place; returns the names saved now."""
    directory = examples_dir()
    source = None if directory is None else directory.parent / "templates" / "templates.yaml"
    if source is None or not source.is_file():
        return []
    saved = []
    for item in load_yaml(source.read_text(encoding="utf-8"))["templates"]:
        history = template_history(ctx, item["name"])
        latest = history[-1] if history else None
        if latest is not None and (latest.channel, latest.subject, latest.body) == (
                item["channel"], item["subject"], item["body"]):
            continue
        save_template(ctx, item["name"], item["channel"], item["subject"], item["body"], "text", by="demo")
        saved.append(item["name"])
    return saved


def _company_scenario(ctx: ServiceContext, days: int, seed: int) -> Scenario:
    with ctx.reader() as uow:
        contact_ids = uow.contacts.search(None, None, 10_000_000, 0)
        facts = uow.journeys.load_facts(contact_ids, _REPLAYED, None)
    last = max((e.occurred_at for f in facts.values() for e in f.events), default=None)
    if last is None:
        raise ValueError("the demo database has no events to replay")
    start = (last - timedelta(days=days)).replace(microsecond=0)
    personas = []
    for number, contact_id in enumerate(contact_ids):
        fact = facts[contact_id]
        attributes = {k: v for k, v in fact.values.items() if v is not None and not k.startswith("custom.")}
        # Replayed at day resolution: the sandbox jumps from instant to instant, and one instant per
        # distinct timestamp would make thousands of ticks for a few thousand contacts.
        events = tuple(ScriptedEvent(timedelta(days=(e.occurred_at - start).days), e.type,
                                     cast(dict[str, JSONValue], dict(e.properties))) for e in fact.events)
        personas.append(Persona(name=f"contact{number:06d}", count=1, attributes=attributes,
                                tags=tuple(sorted(fact.tags)), events=events, behaviour=_BEHAVIOUR))
    return Scenario(personas=tuple(personas), seed=seed, start=start, duration=timedelta(days=days),
                    name=f"sample company, last {days} days")


def simulate_company(ctx: ServiceContext, days: int = 90, seed: int = 1,
                     inspect: Callable[[ServiceContext], object] | None = None,
                     ) -> tuple[list[JourneyOutcome], float, dict[str, dict[str, int]]]:
    """Publish the example journeys in a sandbox and replay the company's last ``days`` days through them;
    ``inspect`` is handed the sandbox's services before it closes (the demo writes its weekly report there)."""
    directory = examples_dir()
    if directory is None:
        raise FileNotFoundError("examples/journeys not found (run the demo from a source checkout)")
    texts = [p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.yaml"))
             if not p.name.endswith(".scenario.yaml")]
    scenario = _company_scenario(ctx, days, seed)
    with tempfile.TemporaryDirectory(prefix="touchflow-demo-journeys-") as tmp:
        result = simulate(texts, scenario, open_store=open_sandbox, database_dir=Path(tmp))
        sandbox = bootstrap(Settings(f"sqlite:///{(Path(tmp) / 'sim.db').as_posix()}"))
        try:
            outcomes = []
            refresh_rollups(sandbox.services, quiescent=True)
            kpis = {r.journey: r for r in metric_rows(sandbox.services, start=date(2000, 1, 1),
                                                      end=date(9998, 12, 31), by=("journey",))}
            for key in result.journeys:
                stats = journey_stats(sandbox.services, key)
                outcomes.append(JourneyOutcome(key, stats.journey.name, sum(stats.runs_by_status.values()),
                                               stats.runs_by_status.get("converted", 0),
                                               stats.sent_by_channel, kpis.get(key)))
            guarded = message_outcomes(sandbox.services)
            if inspect is not None:
                inspect(sandbox.services)
        finally:
            sandbox.close()
    return outcomes, result.elapsed, guarded

