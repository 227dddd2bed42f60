"""Lead scoring use cases: save a model (a new version each time), rescore everyone, read a contact's score
and history, sales feedback, the calibration report and accepting its proposals (S5).

``score_chunk`` is the one place scores are computed and written, for the worker's passes and for rescoring:
load the chunk's events in one query (times as integer microseconds, in contact order), score them in one pass
with the pure ``domain.scoring_batch.ScoreBatch`` (equal to ``domain.scoring.score_with``, the reference), write
only what changed (score, history row, ``custom.lead_score``: set-based, from one staged batch) and emit
``lead_mql`` / ``lead_sql`` once. ``rescore_all`` over many contacts splits the two halves: worker processes
load and score the next chunks while the caller writes.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from touchflow.domain.conditions.predicates import EventFact, needs_events
from touchflow.domain.events import EventInput
from touchflow.domain.ids import IdFactory
from touchflow.domain.scoring.batch import AttributeValues, ScoreBatch, from_micros
from touchflow.domain.scoring.calibration import CalibrationReport, Observation, calibrate
from touchflow.domain.scoring.model import (
    DEFAULT_MODEL,
    ScoringModel,
    crossings,
    model_document,
    parse_model,
    with_changes,
)
from touchflow.domain.scoring.ports import (
    LifecycleReader,
    LifecycleRepository,
    ModelVersion,
    ScoreSnapshot,
    ScoreWrite,
    StoredProposal,
    StoredScore,
)
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.contacts import resolve_contact_id
from touchflow.services.context import ServiceContext, emit_events, in_transaction
from touchflow.services.writeback_capture import capture_scores

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

_log = logging.getLogger(__name__)

RESCORE_CHUNK = 2000
RESCORE_WORKERS = 2  # processes that read and score while the caller writes (the machines have 2 cores)
PARALLEL_FROM = 50_000  # live contacts: below, starting the workers (~0.5 s) costs more than they save


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


def _inputs(store: LifecycleRepository, batch: ScoreBatch, ids: Sequence[str], span: bool
            ) -> tuple[dict[str, dict[int, float]], AttributeValues, dict[str, list[EventFact]]]:
    """The chunk's event points per rule (one query, one pass) and what its attribute rules read."""
    model, now = batch.model, batch.now
    since = None if model.lookback is None else now - model.lookback
    rows = store.event_rows(ids, model.event_types(), model.filtered_types(), since, now, span)
    totals = batch.event_points(rows)
    events: dict[str, list[EventFact]] = {}
    if not model.attributes:
        return totals, {}, events
    attribute_events = {t for r in model.attributes for t in (needs_events(r.when) or ())}
    if attribute_events:
        for cid, event_type, at, props in rows:
            if event_type in attribute_events:
                events.setdefault(cid, []).append(EventFact(event_type, from_micros(at), props or {}))
    return totals, store.attribute_values(ids, batch.attribute_fields, batch.reads_tags, span), events


_REACHED: dict[tuple[bool, bool], dict[str, object]] = {
    (mql, sql): {"mql": True if mql else None, "sql": True if sql else None} for mql in (False, True)
    for sql in (False, True)}


def score_chunk(uow: UnitOfWork, ids_factory: IdFactory, model: ScoringModel, ids: Sequence[str], now: datetime,
                *, span: bool = False) -> dict[str, float]:
    """Score these contacts and write what changed; returns every contact's score."""
    if len(set(ids)) != len(ids):
        ids = list(dict.fromkeys(ids))  # one write per contact: the staged batch is keyed by contact
    batch = ScoreBatch(model, now)
    del ids_factory
    return _write_chunk(uow, model, ids, batch.scores(ids, *_inputs(uow.lifecycle, batch, ids, span)), now, span)


def _write_chunk(uow: UnitOfWork, model: ScoringModel, ids: Sequence[str], new_scores: Sequence[float],
                 now: datetime, span: bool) -> dict[str, float]:
    """Write the scores that changed or reached a level (upsert, history row, ``custom.lead_score``) and emit
    ``lead_mql`` / ``lead_sql`` once; returns every contact's score."""
    stored = uow.lifecycle.score_states(ids, span)
    version = model.version
    lowest = min((value for _, value in model.thresholds), default=math.inf)
    scores: dict[str, float] = {}
    writes: list[ScoreWrite] = []
    emitted: list[tuple[EventInput, str]] = []
    for cid, score in zip(ids, new_scores, strict=True):
        scores[cid] = score
        before = stored.get(cid)
        levels = crossings(model, score, {} if before is None else _REACHED[before[2], before[3]]) \
            if score >= lowest else []
        same = before is not None and before[0] == score and before[1] == version
        if same and not levels:
            continue
        writes.append((cid, score, not same, "mql" in levels, "sql" in levels))
        for level in levels:
            emitted.append((EventInput(f"{level}_{cid}", f"lead_{level}", (), now, "touchflow",
                                       {"score": score, "model_version": version,
                                        "threshold": model.threshold(level)}), cid))
    uow.lifecycle.write_scores(writes, version, now)
    capture_scores(uow, [(w[0], w[1]) for w in writes if w[2]], version, now)  # write-back (issue 14)
    emit_events(uow, emitted, now)
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


def rescore_all(ctx: ServiceContext, chunk: int = RESCORE_CHUNK, workers: int | None = None) -> int:
    """Score every live contact with the model in force, chunk by chunk (one transaction each).

    With ``workers`` processes, they read and score the next chunks while this one writes; the scores are the
    same. By default: up to ``RESCORE_WORKERS`` (one per CPU) from ``PARALLEL_FROM`` live contacts."""
    now = ctx.clock.now()
    automatic = workers is None
    with ctx.reader() as uow:
        model = current_model(uow)
        reader = uow.lifecycle.reader()
        if reader is None or multiprocessing.current_process().daemon:  # a daemon process may not start others
            workers = 0
        elif workers is None:
            cpus = os.cpu_count() or 1
            workers = min(RESCORE_WORKERS, cpus) if cpus > 1 and uow.lifecycle.live_count() >= PARALLEL_FROM else 0
    if workers > 0 and reader is not None:
        try:
            return _rescore_in_workers(ctx, model, now, chunk, workers, reader)
        except BrokenProcessPool:
            if not automatic:
                raise
            # e.g. a script without ``if __name__ == "__main__"``, which a spawned worker runs again: rescore here
            # (the chunks already written come out unchanged, so nothing is written twice)
            _log.warning("rescoring workers could not run; rescoring in this process", exc_info=True)
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


def _rescore_in_workers(ctx: ServiceContext, model: ScoringModel, now: datetime, chunk: int, workers: int,
                        reader: LifecycleReader) -> int:
    """Chunks go to the workers a few ahead (ids read here, in order); their scores are written here, in order,
    a transaction per chunk, exactly as ``score_chunk`` writes them. Scoring reads events and attributes, which
    writing does not change (a contact's ``custom.lead_score`` is written only with its own chunk). The ids are
    read a few chunks before they are written: a contact merged away in between still gets its score row."""
    pending: deque[tuple[list[str], Future[list[float]]]] = deque()
    after: str | None = None
    done = 0
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no copy of this one's connections
    with ProcessPoolExecutor(workers, mp_context=spawn, initializer=_start_worker,
                             initargs=(reader, model_document(model), model.version, now)) as pool:

        def send_next() -> None:
            nonlocal after
            with ctx.reader() as uow:
                ids = uow.lifecycle.live_ids(after, chunk)
            if ids:
                after = ids[-1]
                pending.append((ids, pool.submit(_score_in_worker, ids)))

        try:
            for _ in range(2 * workers + 1):
                send_next()
            while pending:
                ids, scored = pending.popleft()
                new_scores = scored.result()
                send_next()
                with ctx.uow() as uow:
                    _write_chunk(uow, model, ids, new_scores, now, span=True)
                    uow.commit()
                done += len(ids)
        except BaseException:
            for _, scored in pending:
                scored.cancel()
            raise
    return done


_WORKER: list[tuple[LifecycleReader, ScoreBatch]] = []  # in a worker process: its reader and the compiled model


def _start_worker(reader: LifecycleReader, document: dict[str, Any], version: int, now: datetime) -> None:
    _WORKER[:] = [(reader, ScoreBatch(parse_model(document, version), now))]


def _score_in_worker(ids: list[str]) -> list[float]:
    (reader, batch), = _WORKER
    with reader.open() as store:
        return batch.scores(ids, *_inputs(store, batch, ids, True))


def score_of(ctx: ServiceContext, contact_ref: str) -> ContactScore:
    """The contact's score now, with each rule's part (computed, not stored), and the stored row."""
    now = ctx.clock.now()
    with ctx.reader() as uow:
        cid = resolve_contact_id(uow, contact_ref)
        batch = ScoreBatch(current_model(uow), now)
        (result,) = batch.results([cid], *_inputs(uow.lifecycle, batch, [cid], False))
        model = batch.model
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
        batch = ScoreBatch(model, as_of)
        after = None
        while ids := uow.lifecycle.live_ids(after, chunk):
            results = batch.results(ids, *_inputs(uow.lifecycle, batch, ids, True))
            converted = uow.lifecycle.converted(ids, as_of, now, True)
            feedback = uow.lifecycle.feedback(ids, now, True)
            for cid, result in zip(ids, results, strict=True):
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
