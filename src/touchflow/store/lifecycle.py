"""Lifecycle stages, tiers and lead scores on SQL: set-based reads per chunk of contacts, bulk writes."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, String, and_, bindparam, func, insert, null, select, text, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from touchflow.domain.lifecycle_ports import (
    ModelVersion,
    ScoreSnapshot,
    StageChange,
    StoredProposal,
    StoredScore,
    TimedEvent,
)
from touchflow.store.bulk import bulk_insert
from touchflow.store.tables import (
    contacts,
    events,
    lead_scores,
    score_history,
    scoring_models,
    scoring_proposals,
    stage_history,
)

__all__ = ["SqlLifecycleRepository"]

_CHUNK = 500
SCORE_SOURCE = "touchflow:scoring"
SCORE_PRIORITY = 500


def _chunks(items: Sequence[str], span: bool) -> Iterator[Sequence[str]]:
    if span:
        yield items
        return
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def _of(column: Any, chunk: Sequence[str], span: bool) -> ColumnElement[bool]:
    """The chunk's contacts: by range when the ids are a dense sorted slice of all contacts, else by list."""
    return and_(column >= chunk[0], column <= chunk[-1]) if span else column.in_(list(chunk))


def _proposal(r: Any) -> StoredProposal:
    return StoredProposal(r.id, r.model_version, r.kind, r.target, r.current, r.proposed, r.summary, r.status,
                          r.created_at, r.decided_at, r.decided_by, r.accepted_version)


class SqlLifecycleRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection
        self._pg = connection.dialect.name == "postgresql"

    # --- which contacts --------------------------------------------------------------------------

    def touched_since(self, after: tuple[datetime, int] | None, limit: int,
                      ignore_types: Collection[str]) -> tuple[list[str], tuple[datetime, int] | None]:
        kinds = events.c.type.not_in(sorted(ignore_types))
        where: list[ColumnElement[bool]] = [kinds]
        if after is not None:
            stamp, seen = after
            at_stamp = self._count_at(stamp, kinds)
            # more events now carry the last stamp than we saw (a clock that did not move): look again
            where.append(events.c.received_at >= stamp if at_stamp > seen else events.c.received_at > stamp)
        marks = list(self._c.execute(select(events.c.received_at).where(*where)
                                     .order_by(events.c.received_at).limit(limit)).scalars())
        if not marks:
            return [], after
        upper = marks[-1]  # every event stamped up to it, even past the limit: one batch shares one stamp
        live = select(contacts.c.id).where(contacts.c.id == events.c.contact_id, contacts.c.merged_into.is_(None))
        ids = self._c.execute(select(events.c.contact_id).distinct()
                              .where(*where, events.c.received_at <= upper, live.exists())).scalars()
        return sorted(ids), (upper, self._count_at(upper, kinds))

    def _count_at(self, stamp: datetime, kinds: ColumnElement[bool]) -> int:
        return int(self._c.execute(select(func.count()).select_from(events)
                                   .where(events.c.received_at == stamp, kinds)).scalar_one())

    def live_ids(self, after_id: str | None, limit: int) -> list[str]:
        query = select(contacts.c.id).where(contacts.c.merged_into.is_(None)).order_by(contacts.c.id).limit(limit)
        if after_id is not None:
            query = query.where(contacts.c.id > after_id)
        return list(self._c.execute(query).scalars())

    # --- facts ------------------------------------------------------------------------------------

    def created_at(self, ids: Collection[str]) -> dict[str, datetime]:
        found: dict[str, datetime] = {}
        for chunk in _chunks(sorted(set(ids)), False):
            found.update({r[0]: r[1] for r in self._c.execute(
                select(contacts.c.id, contacts.c.created_at).where(contacts.c.id.in_(list(chunk))))})
        return found

    def last_interactions(self, ids: Sequence[str], ignore_types: Collection[str], now: datetime,
                          span: bool = False) -> dict[str, datetime]:
        found: dict[str, datetime] = {}
        for chunk in _chunks(ids, span):
            query = (select(events.c.contact_id, func.max(events.c.occurred_at))
                     .where(_of(events.c.contact_id, chunk, span), events.c.type.not_in(sorted(ignore_types)),
                            events.c.occurred_at <= now).group_by(events.c.contact_id))
            found.update({cid: at for cid, at in self._c.execute(query) if at is not None})
        return found

    def interaction_counts(self, ids: Sequence[str], ignore_types: Collection[str], since: datetime,
                           now: datetime, span: bool = False) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(ids, span):
            query = (select(events.c.contact_id, func.count())
                     .where(_of(events.c.contact_id, chunk, span), events.c.type.not_in(sorted(ignore_types)),
                            events.c.occurred_at > since, events.c.occurred_at <= now).group_by(events.c.contact_id))
            found.update({cid: int(n) for cid, n in self._c.execute(query)})
        return found

    def events_of(self, ids: Sequence[str], types: Collection[str], with_properties: Collection[str],
                  since: datetime | None, now: datetime, span: bool = False) -> dict[str, list[TimedEvent]]:
        """The hot path of rescoring: rows fetched at once and times parsed here, below Core's per-value
        processing (SQLite hands back text; PostgreSQL aware datetimes)."""
        found: dict[str, list[TimedEvent]] = {}
        plain = sorted(set(types) - set(with_properties))
        rich = sorted(set(types) & set(with_properties))
        raw_at = type_coerce(events.c.occurred_at, String)
        raw_props = type_coerce(events.c.properties, String)
        for chunk in _chunks(ids, span):
            for kinds, props in ((plain, False), (rich, True)):
                if not kinds:
                    continue
                query = select(events.c.contact_id, events.c.type, raw_at, raw_props if props else null())
                # ``type || ''``: read by contact, not by type: SQLite's planner otherwise may take the
                # (type, occurred_at) index and walk every event of those types for each chunk
                query = query.where(_of(events.c.contact_id, chunk, span), (events.c.type + "").in_(kinds),
                                    events.c.occurred_at <= now)
                if since is not None:
                    query = query.where(events.c.occurred_at > since)
                for cid, kind, at, doc in self._c.execute(query).all():
                    when = at if isinstance(at, datetime) else datetime.fromisoformat(at).replace(tzinfo=UTC)
                    loaded = (doc if isinstance(doc, dict) else orjson.loads(doc)) if doc is not None else None
                    found.setdefault(cid, []).append((kind, when, loaded))
        return found

    # --- stages -----------------------------------------------------------------------------------

    def last_stage_changes(self, ids: Collection[str]) -> dict[str, StageChange]:
        found: dict[str, StageChange] = {}
        h = stage_history
        for chunk in _chunks(sorted(set(ids)), False):
            latest = (select(func.max(h.c.id)).where(h.c.contact_id.in_(list(chunk)))
                      .group_by(h.c.contact_id).scalar_subquery())
            for r in self._c.execute(select(h).where(h.c.id.in_(latest))):
                found[r.contact_id] = StageChange(r.contact_id, r.stage, r.from_stage, r.at, r.rule, r.by)
        return found

    def add_stage_changes(self, rows: Sequence[StageChange]) -> None:
        bulk_insert(self._c, stage_history, ("contact_id", "stage", "from_stage", "at", "rule", "by"),
                    [(r.contact_id, r.stage, r.from_stage, r.at, r.rule, r.by) for r in rows])

    def stage_history(self, contact_id: str, limit: int) -> list[StageChange]:
        h = stage_history
        rows = self._c.execute(select(h).where(h.c.contact_id == contact_id).order_by(h.c.id.desc()).limit(limit))
        return [StageChange(r.contact_id, r.stage, r.from_stage, r.at, r.rule, r.by) for r in rows][::-1]

    # --- scores -----------------------------------------------------------------------------------

    def scores(self, ids: Collection[str]) -> dict[str, StoredScore]:
        found: dict[str, StoredScore] = {}
        s = lead_scores
        for chunk in _chunks(sorted(set(ids)), False):
            for r in self._c.execute(select(s).where(s.c.contact_id.in_(list(chunk)))):
                found[r.contact_id] = StoredScore(r.contact_id, r.score, r.model_version, r.computed_at, r.mql_at,
                                                  r.sql_at)
        return found

    def save_scores(self, rows: Sequence[StoredScore]) -> None:
        if not rows:
            return
        dialect = postgresql if self._pg else sqlite
        stmt = dialect.insert(lead_scores)
        stmt = stmt.on_conflict_do_update(index_elements=[lead_scores.c.contact_id], set_={
            "score": stmt.excluded.score, "model_version": stmt.excluded.model_version,
            "computed_at": stmt.excluded.computed_at,
            "mql_at": func.coalesce(lead_scores.c.mql_at, stmt.excluded.mql_at),
            "sql_at": func.coalesce(lead_scores.c.sql_at, stmt.excluded.sql_at)})
        self._c.execute(stmt, [{"contact_id": r.contact_id, "score": r.score, "model_version": r.model_version,
                                "computed_at": r.computed_at, "mql_at": r.mql_at, "sql_at": r.sql_at} for r in rows])

    def add_score_history(self, rows: Sequence[tuple[str, ScoreSnapshot]]) -> None:
        bulk_insert(self._c, score_history, ("contact_id", "score", "model_version", "at"),
                    [(cid, s.score, s.model_version, s.at) for cid, s in rows])

    def score_history(self, contact_id: str, limit: int) -> list[ScoreSnapshot]:
        h = score_history
        rows = self._c.execute(select(h.c.score, h.c.model_version, h.c.at).where(h.c.contact_id == contact_id)
                               .order_by(h.c.id.desc()).limit(limit))
        return [ScoreSnapshot(r.score, r.model_version, r.at) for r in rows][::-1]

    def publish_scores(self, ids: Sequence[str], at: datetime) -> None:
        stamp = at.isoformat()
        for chunk in _chunks(list(ids), False):
            params = {"ids": list(chunk), "at": stamp, "source": SCORE_SOURCE, "priority": SCORE_PRIORITY}
            if self._pg:
                sql = text(
                    "UPDATE contacts AS c SET custom = jsonb_set(c.custom, '{lead_score}', to_jsonb(s.score)), "
                    "lineage = jsonb_set(c.lineage, '{custom.lead_score}', "
                    "jsonb_build_array(CAST(:source AS text), CAST(:priority AS integer), CAST(:at AS text))) "
                    "FROM lead_scores AS s WHERE s.contact_id = c.id AND c.id IN :ids "
                    "AND (c.custom -> 'lead_score') IS DISTINCT FROM to_jsonb(s.score)")
            else:
                score = "(SELECT s.score FROM lead_scores AS s WHERE s.contact_id = contacts.id)"
                sql = text(  # driven by the id list (an UPDATE … FROM may walk all of lead_scores per chunk)
                    f"UPDATE contacts SET custom = json_set(custom, '$.lead_score', {score}), "
                    "lineage = json_set(lineage, '$.\"custom.lead_score\"', json_array(:source, :priority, :at)) "
                    f"WHERE contacts.id IN :ids AND {score} IS NOT NULL "
                    f"AND json_extract(contacts.custom, '$.lead_score') IS NOT {score}")
            self._c.execute(sql.bindparams(bindparam("ids", expanding=True)), params)

    # --- models and calibration ---------------------------------------------------------------------

    def latest_model(self) -> ModelVersion | None:
        row = self._c.execute(select(scoring_models).order_by(scoring_models.c.version.desc()).limit(1)).first()
        return None if row is None else ModelVersion(row.version, row.name, dict(row.document), row.created_at,
                                                     row.created_by, row.note)

    def model(self, version: int) -> ModelVersion | None:
        row = self._c.execute(select(scoring_models).where(scoring_models.c.version == version)).first()
        return None if row is None else ModelVersion(row.version, row.name, dict(row.document), row.created_at,
                                                     row.created_by, row.note)

    def add_model(self, model: ModelVersion) -> None:
        self._c.execute(insert(scoring_models).values(version=model.version, name=model.name, document=model.document,
                                                      created_at=model.created_at, created_by=model.created_by,
                                                      note=model.note))

    def converted(self, ids: Sequence[str], after: datetime, until: datetime, span: bool = False) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(ids, span):
            found.update(self._c.execute(
                select(events.c.contact_id).distinct().where(
                    _of(events.c.contact_id, chunk, span), events.c.type == "order_paid",
                    events.c.occurred_at > after, events.c.occurred_at <= until)).scalars())
        return found

    def feedback(self, ids: Sequence[str], until: datetime, span: bool = False) -> dict[str, str]:
        """Each contact's latest ``lead_feedback`` verdict (good/bad) up to ``until``."""
        found: dict[str, tuple[datetime, str]] = {}
        for chunk in _chunks(ids, span):
            query = (select(events.c.contact_id, events.c.occurred_at, events.c.properties)
                     .where(_of(events.c.contact_id, chunk, span), events.c.type == "lead_feedback",
                            events.c.occurred_at <= until))
            for cid, at, props in self._c.execute(query):
                verdict = (props or {}).get("verdict")
                if verdict in ("good", "bad") and (cid not in found or found[cid][0] <= at):
                    found[cid] = (at, verdict)
        return {cid: verdict for cid, (_, verdict) in found.items()}

    def add_proposals(self, rows: Sequence[StoredProposal]) -> None:
        if rows:
            self._c.execute(insert(scoring_proposals), [
                {"id": p.id, "model_version": p.model_version, "kind": p.kind, "target": p.target,
                 "current": p.current, "proposed": p.proposed, "summary": p.summary, "status": p.status,
                 "created_at": p.created_at, "decided_at": None, "decided_by": None, "accepted_version": None}
                for p in rows])

    def proposals(self, status: str | None) -> list[StoredProposal]:
        query = select(scoring_proposals).order_by(scoring_proposals.c.created_at, scoring_proposals.c.id)
        if status is not None:
            query = query.where(scoring_proposals.c.status == status)
        return [_proposal(r) for r in self._c.execute(query)]

    def decide_proposal(self, proposal_id: str, status: str, by: str, at: datetime,
                        accepted_version: int | None) -> bool:
        done = self._c.execute(update(scoring_proposals).where(scoring_proposals.c.id == proposal_id,
                                                               scoring_proposals.c.status == "open")
                               .values(status=status, decided_by=by, decided_at=at, accepted_version=accepted_version))
        return bool(done.rowcount)

    def supersede_open_proposals(self, at: datetime) -> None:
        self._c.execute(update(scoring_proposals).where(scoring_proposals.c.status == "open")
                        .values(status="superseded", decided_at=at))
