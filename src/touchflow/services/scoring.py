"""Lead scoring use cases: save a model (a new version each time), rescore everyone, read a contact's score
and history, sales feedback, the calibration report and accepting its proposals (S5).

``score_chunk`` is the one place scores are computed and written, for the worker's passes and for rescoring:
load the chunk's events in one query, score each contact with the pure ``domain.scoring.score_contact``,
write only what changed (score, history row, ``custom.lead_score``) and emit ``lead_mql`` / ``lead_sql`` once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.calibration import CalibrationReport, Observation, calibrate
from touchflow.domain.events import EventInput
from touchflow.domain.ids import IdFactory
from touchflow.domain.lifecycle_ports import ModelVersion, ScoreSnapshot, StoredProposal, StoredScore, TimedEvent
from touchflow.domain.ports import UnitOfWork
from touchflow.domain.predicates import ContactFacts, EventFact, needs_events
from touchflow.domain.scoring import (
    DEFAULT_MODEL,
    ScoreResult,
    ScoringModel,
    crossings,
    model_document,
    parse_model,
    score_with,
    with_changes,
)
from touchflow.services.contacts import resolve_contact_id
from touchflow.services.context import ServiceContext, emit_events, in_transaction

__all__ = [
    "ContactScore",
    "ProposalNotFound",
    "accept_proposal",
    "calibration_report",
    "current_model",
    "list_proposals",
    "model_in_force",
    "record_feedback",
    "rescore_all",
    "save_model",
    "score_chunk",
    "score_history",
    "score_of",
]

RESCORE_CHUNK = 2000


class ProposalNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ContactScore:
    contact_id: str
    score: float
    model_version: int
    parts: dict[str, float]
    stored: StoredScore | None


def current_model(uow: UnitOfWork) -> ScoringModel:
    """The newest saved version, or the default model (version 0) until one is saved."""
    latest = uow.lifecycle.latest_model()
    return parse_model(DEFAULT_MODEL) if latest is None else parse_model(latest.document, latest.version)


def _loaded(uow: UnitOfWork, model: ScoringModel, ids: Sequence[str], now: datetime,
            span: bool) -> tuple[dict[str, list[TimedEvent]], dict[str, ContactFacts]]:
    """The chunk's scored events (one query) and, when attribute rules need them, attributes and tags."""
    since = None if model.lookback is None else now - model.lookback
    loaded = uow.lifecycle.events_of(ids, model.event_types(), model.filtered_types(), since, now, span)
    attributes = uow.journeys.load_facts(ids, (), None) if model.attributes else {}
    attribute_events = {t for r in model.attributes for t in (needs_events(r.when) or ())}
    facts: dict[str, ContactFacts] = {}
    for cid in ids:
        base = attributes.get(cid)
        events = [EventFact(t, at, props or {}) for t, at, props in loaded.get(cid, ()) if t in attribute_events]
        facts[cid] = ContactFacts(cid, base.values if base else {}, base.tags if base else frozenset(), events)
    return loaded, facts


def _score(model: ScoringModel, loaded: dict[str, list[TimedEvent]], facts: dict[str, ContactFacts], cid: str,
           now: datetime) -> ScoreResult:
    return score_with(model, loaded.get(cid, ()), facts[cid], now)


def score_chunk(uow: UnitOfWork, ids_factory: IdFactory, model: ScoringModel, ids: Sequence[str], now: datetime,
                *, span: bool = False) -> dict[str, float]:
    """Score these contacts and write what changed; returns every contact's score."""
    loaded, facts = _loaded(uow, model, ids, now, span)
    stored = uow.lifecycle.scores(ids)
    scores: dict[str, float] = {}
    changed: list[StoredScore] = []
    history: list[tuple[str, ScoreSnapshot]] = []
    emitted: list[tuple[EventInput, str]] = []
    for cid in ids:
        result = _score(model, loaded, facts, cid, now)
        scores[cid] = result.score
        before = stored.get(cid)
        reached: dict[str, object] = {"mql": before.mql_at, "sql": before.sql_at} if before else {}
        levels = crossings(model, result.score, reached)
        if before is not None and before.score == result.score and before.model_version == model.version \
                and not levels:
            continue
        marks = {level: now for level in levels}
        changed.append(StoredScore(cid, result.score, model.version, now, marks.get("mql"), marks.get("sql")))
        if before is None or before.score != result.score or before.model_version != model.version:
            history.append((cid, ScoreSnapshot(result.score, model.version, now)))
        for level in levels:
            emitted.append((EventInput(f"{level}_{cid}", f"lead_{level}", (), now, "touchflow",
                                       {"score": result.score, "model_version": model.version,
                                        "threshold": model.threshold(level)}), cid))
    uow.lifecycle.save_scores(changed)
    uow.lifecycle.add_score_history(history)
    uow.lifecycle.publish_scores([s.contact_id for s in changed], now)
    emit_events(uow, emitted, now)
    del ids_factory
    return scores


def save_model(ctx: ServiceContext, document: Mapping[str, Any], *, actor: str, note: str = "") -> ScoringModel:
    """Save a model as the next version (audited). Scores follow at the next ``rescore_all``."""
    parsed = parse_model(document)  # raises PathError naming the element
    now = ctx.clock.now()

    def work(uow: UnitOfWork) -> ScoringModel:
        latest = uow.lifecycle.latest_model()
        version = 1 if latest is None else latest.version + 1
        doc = model_document(parsed)
        uow.lifecycle.add_model(ModelVersion(version, parsed.name, doc, now, actor, note))
        uow.lifecycle.supersede_open_proposals(now)
        uow.audit.record(actor, "scoring.model.save", f"scoring_model:{version}", {"note": note, "model": doc}, now)
        return parse_model(doc, version)

    return in_transaction(ctx, work)


def rescore_all(ctx: ServiceContext, chunk: int = RESCORE_CHUNK) -> int:
    """Score every live contact with the model in force, chunk by chunk (one transaction each)."""
    now = ctx.clock.now()
    with ctx.reader() as uow:
        model = current_model(uow)
    done, after = 0, None
    while True:
        with ctx.uow() as uow:
            ids = uow.lifecycle.live_ids(after, chunk)
            if not ids:
                break
            score_chunk(uow, ctx.ids, model, ids, now, span=True)
            uow.commit()
        done += len(ids)
        after = ids[-1]
    return done


def score_of(ctx: ServiceContext, contact_ref: str) -> ContactScore:
    """The contact's score now, with each rule's part (computed, not stored), and the stored row."""
    now = ctx.clock.now()
    with ctx.reader() as uow:
        cid = resolve_contact_id(uow, contact_ref)
        model = current_model(uow)
        loaded, facts = _loaded(uow, model, [cid], now, False)
        result = _score(model, loaded, facts, cid, now)
        return ContactScore(cid, result.score, model.version, result.parts, uow.lifecycle.scores([cid]).get(cid))


def score_history(ctx: ServiceContext, contact_ref: str, limit: int = 100) -> list[ScoreSnapshot]:
    with ctx.reader() as uow:
        return uow.lifecycle.score_history(resolve_contact_id(uow, contact_ref), limit)


def record_feedback(ctx: ServiceContext, contact_ref: str, verdict: str, *, by: str, note: str = "") -> str:
    """Sales marks a lead good or bad: a ``lead_feedback`` event that calibration reads (audited)."""
    if verdict not in ("good", "bad"):
        raise ValueError("verdict: expected good or bad")
    if not by.strip():
        raise ValueError("by: name the person giving the feedback")
    now = ctx.clock.now()
    with ctx.uow() as uow:
        cid = resolve_contact_id(uow, contact_ref)
        event = EventInput(ctx.ids.new(now), "lead_feedback", (), now, "touchflow",
                           {"verdict": verdict, "by": by.strip(), "note": note})
        emit_events(uow, [(event, cid)], now)
        uow.audit.record(by.strip(), "lead.feedback", cid, {"verdict": verdict, "note": note}, now)
        uow.commit()
    return event.id


def calibration_report(ctx: ServiceContext, horizon_days: int = 30, *, save: bool = True,
                       chunk: int = RESCORE_CHUNK) -> tuple[CalibrationReport, list[StoredProposal]]:
    """Score everyone as of ``horizon_days`` ago (only events up to then), compare with who paid an order
    in the ``horizon_days`` after and with sales feedback; keep the proposals for a person to accept."""
    now = ctx.clock.now()
    as_of = now - timedelta(days=horizon_days)
    observations: list[Observation] = []
    with ctx.reader() as uow:
        model = current_model(uow)
        after = None
        while ids := uow.lifecycle.live_ids(after, chunk):
            loaded, facts = _loaded(uow, model, ids, as_of, True)
            converted = uow.lifecycle.converted(ids, as_of, now, True)
            feedback = uow.lifecycle.feedback(ids, now, True)
            for cid in ids:
                result = _score(model, loaded, facts, cid, as_of)
                observations.append(Observation(cid, result.score, cid in converted, feedback.get(cid),
                                                result.parts))
            after = ids[-1]
    report = calibrate(model, observations)
    stored = [StoredProposal(ctx.ids.new(now), model.version, p.kind, p.target, p.current, p.proposed, p.summary,
                             "open", now) for p in report.proposals]
    if save and stored:
        def work(uow: UnitOfWork) -> None:
            uow.lifecycle.supersede_open_proposals(now)
            uow.lifecycle.add_proposals(stored)

        in_transaction(ctx, work)
    return report, stored


def accept_proposal(ctx: ServiceContext, proposal_id: str, *, actor: str) -> ScoringModel:
    """A person accepts a proposal: the model with that change is saved as a new version (audited)."""
    if not actor.strip():
        raise ValueError("actor: name the person accepting the proposal")
    now = ctx.clock.now()

    def work(uow: UnitOfWork) -> ScoringModel:
        proposal = next((p for p in uow.lifecycle.proposals("open") if p.id == proposal_id), None)
        if proposal is None:
            raise ProposalNotFound(f"no open proposal {proposal_id!r}")
        model = current_model(uow)
        if proposal.kind == "threshold":
            changed = with_changes(model, thresholds=[(proposal.target, proposal.proposed)])
        else:
            changed = with_changes(model, points=[(proposal.target, proposal.proposed)])
        latest = uow.lifecycle.latest_model()
        version = 1 if latest is None else latest.version + 1
        doc = model_document(changed)
        uow.lifecycle.add_model(ModelVersion(version, changed.name, doc, now, actor, f"proposal {proposal.id}: "
                                             f"{proposal.summary}"[:2000]))
        uow.lifecycle.decide_proposal(proposal.id, "accepted", actor, now, version)
        uow.lifecycle.supersede_open_proposals(now)
        uow.audit.record(actor, "scoring.proposal.accept", f"scoring_proposal:{proposal.id}",
                         {"summary": proposal.summary, "version": version}, now)
        return parse_model(doc, version)

    return in_transaction(ctx, work)


def model_in_force(ctx: ServiceContext) -> ScoringModel:
    with ctx.reader() as uow:
        return current_model(uow)


def list_proposals(ctx: ServiceContext, status: str | None = "open") -> list[StoredProposal]:
    with ctx.reader() as uow:
        return uow.lifecycle.proposals(status)
