"""Lifecycle stages, tiers and lead scores on SQL: set-based reads per chunk of contacts, bulk writes."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, and_, bindparam, func, insert, select, text, update
from sqlalchemy.sql.elements import ColumnElement

from touchflow.domain.scoring.ports import (
    EventRow,
    ModelVersion,
    ScoreSnapshot,
    ScoreState,
    ScoreWrite,
    StageChange,
    StoredProposal,
    StoredScore,
)
from touchflow.store.bulk import bulk_insert
from touchflow.store.db import READ_ONLY, make_engine
from touchflow.store.stage_totals_sql import read_totals
from touchflow.store.tables import (
    contacts,
    events,
    lead_scores,
    score_history,
    scoring_models,
    scoring_proposals,
    stage_history,
)

__all__ = ["SqlLifecycleReader", "SqlLifecycleRepository"]

_CHUNK = 500
SCORE_SOURCE = "touchflow:scoring"
SCORE_PRIORITY = 500
_NOT_ATTRIBUTES = ("id", "created_at", "updated_at", "merged_into", "custom", "lineage")  # as load_facts
# occurred_at as integer microseconds since the Unix epoch. SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC):
# julianday of the whole seconds is exact to the millisecond, so rounding recovers the seconds exactly, and the
# fraction (padded, in case fewer digits were written) adds the microseconds
_SQLITE_MICROS = ("CAST(round((julianday(substr(occurred_at, 1, 19)) - 2440587.5) * 86400) AS INTEGER) * 1000000 "
                  "+ CAST(substr(occurred_at || '000000', 21, 6) AS INTEGER)")
_UPSERT_SCORE = ("ON CONFLICT (contact_id) DO UPDATE SET score = excluded.score, "  # the first MQL / SQL time stays
                 "model_version = excluded.model_version, computed_at = excluded.computed_at, "
                 "mql_at = COALESCE(lead_scores.mql_at, excluded.mql_at), "
                 "sql_at = COALESCE(lead_scores.sql_at, excluded.sql_at)")
_PG_MICROS = "CAST(EXTRACT(EPOCH FROM occurred_at) * 1000000 AS BIGINT)"  # numeric on PostgreSQL 14+: exact


def _chunks(items: Sequence[str], span: bool) -> Iterator[Sequence[str]]:
    if span:
        yield items
        return
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _selections(ids: Sequence[str], span: bool, pg: bool) -> Iterator[tuple[str, list[Any]]]:
    """The chunks of ``ids`` as ``_who`` selections (``span``: the ids are a sorted range of live contacts)."""
    for chunk in _chunks(ids, True) if span else _chunks(sorted(set(ids)), False):
        if chunk:
            yield _who(chunk, span, pg)


def _who(chunk: Sequence[str], span: bool, pg: bool) -> tuple[str, list[Any]]:
    """Which contacts a chunk means, as a ``{c}`` template and driver parameters: the range from the first id
    to the last (``span``: every live id in between), or exactly these ids."""
    mark = "%s" if pg else "?"
    if span:
        return f"{{c}} >= {mark} AND {{c}} <= {mark}", [chunk[0], chunk[-1]]
    if pg:
        return "{c} = ANY(%s)", [list(chunk)]
    return f"{{c}} IN ({_marks(len(chunk))})", list(chunk)


def _sqlite_time(at: datetime) -> str:
    """How ``UTCDateTime`` stores a time on SQLite (compared as text)."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _contact_of(row: EventRow) -> str:
    return row[0]


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

    def touched_since(self, after: tuple[datetime, int] | None, limit: int, ignore_types: Collection[str],
                      upto: datetime | None = None) -> tuple[list[str], tuple[datetime, int] | None]:
        kinds = events.c.type.not_in(sorted(ignore_types))
        where: list[ColumnElement[bool]] = [kinds]
        if after is not None:
            stamp, seen = after
            at_stamp = self._count_at(stamp, kinds)
            # more events now carry the last stamp than we saw (a clock that did not move): look again
            where.append(events.c.received_at >= stamp if at_stamp > seen else events.c.received_at > stamp)
        if upto is not None:  # a step begun earlier, with its upper mark fixed
            upper = upto
        else:
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
        # ``+merged_into``: walk the primary key; SQLite's planner otherwise takes the merged_into index and
        # sorts every live contact for each chunk (quadratic over a full pass). The driver's cursor: no Row objects
        mark = "%s" if self._pg else "?"
        sql = f"SELECT id FROM contacts WHERE {'' if self._pg else '+'}merged_into IS NULL"
        params: list[Any] = []
        if after_id is not None:
            sql += f" AND id > {mark}"
            params.append(after_id)
        cursor = self._c.connection.cursor()
        try:
            cursor.execute(f"{sql} ORDER BY id LIMIT {mark}", [*params, limit])
            return [row[0] for row in cursor.fetchall()]
        finally:
            cursor.close()

    def live_count(self) -> int:
        return int(self._c.execute(select(func.count()).select_from(contacts)
                                   .where(contacts.c.merged_into.is_(None))).scalar_one())

    def reader(self) -> SqlLifecycleReader | None:
        url = self._c.engine.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            return None
        return SqlLifecycleReader(url.render_as_string(hide_password=False))

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

    def event_rows(self, ids: Sequence[str], types: Collection[str], with_properties: Collection[str],
                   since: datetime | None, now: datetime, span: bool = False) -> list[EventRow]:
        """Rescoring's hot path: plain tuples from the driver's cursor, times as integer microseconds computed in
        SQL, ``ORDER BY contact_id, type, occurred_at`` (on SQLite the order of the (contact_id, type,
        occurred_at) index, which covers the query when no properties are read)."""
        found: list[EventRow] = []
        plain = sorted(set(types) - set(with_properties))
        rich = sorted(set(types) & set(with_properties))
        chunks = _chunks(ids, True) if span else _chunks(sorted(set(ids)), False)
        cursor = self._c.connection.cursor()
        try:
            for chunk in chunks:
                if not chunk:
                    continue
                parts: list[Sequence[EventRow]] = []
                for kinds, props in ((plain, False), (rich, True)):
                    if kinds:
                        sql, params = self._event_query(chunk, span, kinds, props, since, now)
                        cursor.execute(sql, params)
                        rows = cursor.fetchall()
                        if props:
                            rows = [(cid, kind, at, doc if isinstance(doc, dict) else orjson.loads(doc))
                                    for cid, kind, at, doc in rows]
                        parts.append(rows)
                if len(parts) == 2 and parts[0] and parts[1]:
                    parts = [sorted([*parts[0], *parts[1]], key=_contact_of)]  # stable: each type stays in time order
                for rows in parts:
                    found.extend(rows)
        finally:
            cursor.close()
        return found

    def _event_query(self, chunk: Sequence[str], span: bool, kinds: Sequence[str], props: bool,
                     since: datetime | None, now: datetime) -> tuple[str, list[Any]]:
        if self._pg:
            who = "contact_id >= %s AND contact_id <= %s" if span else "contact_id = ANY(%s)"
            params: list[Any] = [chunk[0], chunk[-1]] if span else [list(chunk)]
            sql = (f"SELECT contact_id, type, {_PG_MICROS}, {'properties' if props else 'NULL'} FROM events "
                   f"WHERE {who} AND type = ANY(%s) AND occurred_at <= %s")
            params += [list(kinds), now]
            if since is not None:
                sql += " AND occurred_at > %s"
                params.append(since)
        else:
            # ``+type``, ``+occurred_at``: read by contact; SQLite's planner otherwise may take the (type,
            # occurred_at) index and walk every event of those types for each chunk
            who = "contact_id >= ? AND contact_id <= ?" if span else f"contact_id IN ({_marks(len(chunk))})"
            params = [chunk[0], chunk[-1]] if span else list(chunk)
            sql = (f"SELECT contact_id, type, {_SQLITE_MICROS}, {'properties' if props else 'NULL'} FROM events "
                   f"WHERE {who} AND +type IN ({_marks(len(kinds))}) AND +occurred_at <= ?")
            params += [*kinds, _sqlite_time(now)]
            if since is not None:
                sql += " AND +occurred_at > ?"
                params.append(_sqlite_time(since))
        return sql + " ORDER BY contact_id, type, occurred_at", params

    def attribute_values(self, ids: Sequence[str], fields: Sequence[str], with_tags: bool,
                         span: bool = False) -> dict[str, tuple[tuple[Any, ...], frozenset[str]]]:
        """Each contact's values of ``fields`` (in that order; a column or ``custom.x`` as ``load_facts`` names
        them, None when missing) and, when asked, its tags: what a scoring model's attribute rules read."""
        found: dict[str, tuple[tuple[Any, ...], frozenset[str]]] = {}
        if not fields and not with_tags:
            return found
        columns = [f if f in contacts.c and f not in _NOT_ATTRIBUTES else None for f in fields]
        custom = [f[len("custom."):] if f.startswith("custom.") else None for f in fields]
        plain = all(c is not None for c in columns)  # only columns: the row is the values
        selected = ", ".join(['"id"', *(f'"{c}"' for c in columns if c is not None),
                              *(['"custom"'] if any(custom) else [])])
        no_tags: frozenset[str] = frozenset()
        cursor = self._c.connection.cursor()
        try:
            for who, params in _selections(ids, span, self._pg):
                tags: dict[str, set[str]] = {}
                if with_tags:
                    cursor.execute(f"SELECT contact_id, tag FROM contact_tags WHERE {who.format(c='contact_id')}",
                                   params)
                    for cid, tag in cursor.fetchall():
                        tags.setdefault(cid, set()).add(tag)
                cursor.execute(f"SELECT {selected} FROM contacts WHERE {who.format(c='id')}", params)
                for row in cursor.fetchall():
                    cid = row[0]
                    held = frozenset(tags[cid]) if cid in tags else no_tags
                    if plain:
                        found[cid] = (row[1:], held)
                        continue
                    doc = row[-1] if any(custom) else None
                    doc = (doc if isinstance(doc, dict) else orjson.loads(doc)) if doc is not None else {}
                    by_column = iter(row[1:])
                    found[cid] = (tuple(next(by_column) if column is not None else doc.get(key) if key else None
                                        for column, key in zip(columns, custom, strict=True)), held)
        finally:
            cursor.close()
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

    def latest_stage_totals(self, since: datetime) -> list[tuple[str, str | None, bool, int]]:
        return read_totals(self._c, since)  # the stored aggregate, O(stages² × days) rows (ADR 0049)

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

    def score_states(self, ids: Sequence[str], span: bool = False) -> dict[str, ScoreState]:
        found: dict[str, ScoreState] = {}
        cursor = self._c.connection.cursor()
        try:
            for who, params in _selections(ids, span, self._pg):
                cursor.execute("SELECT contact_id, score, model_version, mql_at IS NOT NULL, sql_at IS NOT NULL "
                               f"FROM lead_scores WHERE {who.format(c='contact_id')}", params)
                found.update({cid: (score, version, bool(mql), bool(sql))
                              for cid, score, version, mql, sql in cursor.fetchall()})
        finally:
            cursor.close()
        return found

    def write_scores(self, rows: Sequence[ScoreWrite], model_version: int, at: datetime) -> None:
        """Set-based from one staged batch (a temporary table on SQLite, arrays on PostgreSQL): three statements
        instead of three executemany runs, each with a statement per row."""
        if not rows:
            return
        if self._pg:
            self._write_scores_pg(rows, model_version, at)
            return
        stamp = _sqlite_time(at)
        cursor = self._c.connection.cursor()
        try:
            cursor.execute("CREATE TEMP TABLE IF NOT EXISTS scoring_batch (contact_id TEXT PRIMARY KEY, "
                           "score REAL NOT NULL, history INTEGER NOT NULL, mql INTEGER NOT NULL, sql INTEGER NOT NULL)")
            cursor.execute("DELETE FROM temp.scoring_batch")
            cursor.executemany("INSERT INTO temp.scoring_batch VALUES (?, ?, ?, ?, ?)", rows)
            cursor.execute(  # WHERE true: an upsert's SELECT needs one, or ON CONFLICT would parse as a join
                "INSERT INTO lead_scores (contact_id, score, model_version, computed_at, mql_at, sql_at) "
                "SELECT contact_id, score, ?, ?, CASE WHEN mql THEN ? END, CASE WHEN sql THEN ? END "
                f"FROM temp.scoring_batch WHERE true {_UPSERT_SCORE}", (model_version, stamp, stamp, stamp))
            cursor.execute("INSERT INTO score_history (contact_id, score, model_version, at) "
                           "SELECT contact_id, score, ?, ? FROM temp.scoring_batch WHERE history ORDER BY contact_id",
                           (model_version, stamp))
            cursor.execute(
                "UPDATE contacts SET custom = json_set(custom, '$.lead_score', n.score), "
                "lineage = json_set(lineage, '$.\"custom.lead_score\"', json_array(?, ?, ?)) "
                "FROM temp.scoring_batch AS n WHERE contacts.id = n.contact_id "
                "AND json_extract(contacts.custom, '$.lead_score') IS NOT n.score",
                (SCORE_SOURCE, SCORE_PRIORITY, at.isoformat()))
            cursor.execute("DELETE FROM temp.scoring_batch")
        finally:
            cursor.close()

    def _write_scores_pg(self, rows: Sequence[ScoreWrite], model_version: int, at: datetime) -> None:
        ids, scores, history, mql, sql = (list(column) for column in zip(*rows, strict=True))
        cursor = self._c.connection.cursor()
        try:
            cursor.execute(
                "INSERT INTO lead_scores (contact_id, score, model_version, computed_at, mql_at, sql_at) "
                "SELECT n.id, n.score, %s, %s, CASE WHEN n.mql THEN CAST(%s AS timestamptz) END, "
                "CASE WHEN n.sql THEN CAST(%s AS timestamptz) END "
                "FROM unnest(CAST(%s AS text[]), CAST(%s AS float8[]), CAST(%s AS boolean[]), CAST(%s AS boolean[])) "
                f"AS n(id, score, mql, sql) {_UPSERT_SCORE}",
                (model_version, at, at, at, ids, scores, [bool(v) for v in mql], [bool(v) for v in sql]))
            cursor.execute(
                "INSERT INTO score_history (contact_id, score, model_version, at) SELECT n.id, n.score, %s, %s "
                "FROM unnest(CAST(%s AS text[]), CAST(%s AS float8[]), CAST(%s AS boolean[])) AS n(id, score, history) "
                "WHERE n.history ORDER BY n.id", (model_version, at, ids, scores, [bool(v) for v in history]))
            cursor.execute(
                "UPDATE contacts AS c SET custom = jsonb_set(c.custom, '{lead_score}', to_jsonb(n.score)), "
                "lineage = jsonb_set(c.lineage, '{custom.lead_score}', "
                "jsonb_build_array(CAST(%s AS text), CAST(%s AS integer), CAST(%s AS text))) "
                "FROM unnest(CAST(%s AS text[]), CAST(%s AS float8[])) AS n(id, score) WHERE c.id = n.id "
                "AND (c.custom -> 'lead_score') IS DISTINCT FROM to_jsonb(n.score)",
                (SCORE_SOURCE, SCORE_PRIORITY, at.isoformat(), ids, scores))
        finally:
            cursor.close()

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


_ENGINES: dict[str, Engine] = {}  # in a worker process: its own engine per database, made on first use


@dataclass(frozen=True)
class SqlLifecycleReader:
    """Scoring's reads from a worker process (``services.scoring`` scores chunks there while it writes)."""

    url: str

    @contextmanager
    def open(self) -> Iterator[SqlLifecycleRepository]:
        engine = _ENGINES.get(self.url)
        if engine is None:
            engine = _ENGINES[self.url] = make_engine(self.url)
        with engine.connect() as connection:
            reading = connection.execution_options(**{READ_ONLY: True})  # SQLite: BEGIN, not BEGIN IMMEDIATE
            with reading.begin():
                yield SqlLifecycleRepository(reading)
