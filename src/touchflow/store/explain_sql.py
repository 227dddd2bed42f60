"""``metrics explain`` counted in SQL (ADR 0056): one GROUP BY per period over one journey's messages, each
message's outcomes tested with ``EXISTS`` on the message column of ``events`` (``ix_events_msg_first``), on
SQLite and PostgreSQL.

It answers what ``SqlAlertRepository.sent_between`` + ``MessageOutcome.counts`` answered message by message (the
alerts still read that way), without a Python object per message or a JSON document per outcome read back: the
rows that leave the database are one per group. The dimension's raw value is returned (a UTC quarter hour, the
text after an address's first ``@``, the first open's device and user agent …); the service turns it into the
label, in Python, where the rules live (``decompose.mailbox_provider``, ``device_of``, the workspace zone).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, String, and_, case, cast, exists, false, func, literal_column, or_, select
from sqlalchemy.sql.elements import ColumnElement

from touchflow.domain.measurement.alert_ports import ExplainCell
from touchflow.domain.measurement.alert_rules import DAILY_METRICS
from touchflow.domain.measurement.rollup_columns import MESSAGE_TYPES
from touchflow.store.tables import contact_tags, events, journey_runs, outbox

__all__ = ["BUCKETS", "GROUPS", "explain_cells"]

# what each success of DAILY_METRICS is made of (the outcome types sent_between folds into that flag)
_SUCCESS_TYPES = {"opened_unique": ("message_opened",), "clicked_unique": ("message_clicked",),
                  "unsubscribed": ("message_unsubscribed",), "hard_bounced": ("message_bounced",),
                  "complained": ("message_complained", "complaint")}
GROUPS = ("template", "version", "channel", "domain", "device", "hour", "quarter", "second", "tag")
BUCKETS = {"hour": 3600, "quarter": 900, "second": 1}  # the UTC buckets of the send time, in seconds
_STATUSES = ("sent", "sending", "failed", "dead")


def _json_text(pg: bool, props: Any, name: str) -> ColumnElement[Any]:
    """The JSON value as text (``->>`` on PostgreSQL; SQLite's ``json_extract``, a string's text)."""
    return props[name].as_string() if pg else func.json_extract(props, f"$.{name}")


def _is_string(pg: bool, props: Any, name: str) -> ColumnElement[bool]:
    """A non-empty JSON string: the values tracking records (a number or ``true`` there is not counted)."""
    kind = func.jsonb_typeof(props[name]) == "string" if pg else func.json_type(props, f"$.{name}") == "text"
    return and_(kind, _json_text(pg, props, name) != "")


def _is_true(pg: bool, props: Any, name: str) -> ColumnElement[bool]:
    """The JSON value is ``true`` itself (``properties.get(name) is True``), not 1 nor "true"."""
    if pg:
        return and_(func.jsonb_typeof(props[name]) == "boolean", props[name].as_string() == "true")
    return func.json_type(props, f"$.{name}") == "true"


def _outcome(pg: bool, kinds: Sequence[str], since: datetime, hard: bool = False) -> ColumnElement[bool]:
    """Whether the message has an outcome of one of ``kinds`` since ``since``: a lifecycle event by its message
    column, any other (``complaint``) by the ``message_id`` its properties name."""
    e = events.alias("e")
    tests: list[ColumnElement[bool]] = []
    own = [k for k in kinds if k in MESSAGE_TYPES]
    if own:
        where = [e.c.msg_id == outbox.c.id, e.c.type.in_(own), e.c.occurred_at >= since]
        if hard:
            where.append(_is_true(pg, e.c.properties, "hard"))
        tests.append(exists(select(literal_column("1")).select_from(e).where(*where)))
    others = [k for k in kinds if k not in MESSAGE_TYPES]
    if others:
        x = events.alias("x")
        named = cast(_json_text(pg, x.c.properties, "message_id"), String)
        tests.append(outbox.c.id.in_(select(named).where(x.c.type.in_(others), x.c.occurred_at >= since)))
    return or_(false(), *tests)


def _first(pg: bool, kinds: Sequence[str], name: str, since: datetime) -> Any:
    """The message's first non-empty ``name`` among its outcomes of ``kinds``, by type then time (the order
    sent_between read them in)."""
    e = events.alias("f")
    value = _json_text(pg, e.c.properties, name)
    return (select(value).where(e.c.msg_id == outbox.c.id, e.c.type.in_(kinds), e.c.occurred_at >= since,
                                _is_string(pg, e.c.properties, name))
            .order_by(e.c.type, e.c.occurred_at).limit(1).scalar_subquery())


def _bucket(pg: bool, seconds: int) -> ColumnElement[Any]:
    """The UTC bucket of ``seconds`` the send time falls in (seconds since 1970 // size)."""
    if pg:
        return literal_column(f"floor(extract(epoch FROM outbox.sent_at) / {seconds})::bigint")
    return literal_column(f"(CAST(strftime('%s', outbox.sent_at) AS INTEGER) / {seconds})")


def _keys(pg: bool, group: str, tag: str, since: datetime) -> list[ColumnElement[Any]]:
    if group == "template":
        return [outbox.c.template]
    if group == "version":
        return [journey_runs.c.version]
    if group == "channel":
        return [outbox.c.channel]
    if group == "domain":
        at = func.strpos(outbox.c.address, "@") if pg else func.instr(outbox.c.address, "@")
        return [case((at > 0, func.substr(outbox.c.address, at + 1)), else_=None)]
    if group == "device":
        device = _first(pg, ("message_clicked", "message_opened"), "device", since)
        agent = _first(pg, ("message_opened",), "user_agent", since)
        return [device, agent]  # the agent matters only without a device: see explain_cells
    if group in BUCKETS:
        return [_bucket(pg, BUCKETS[group])]
    if group == "tag":
        return [exists(select(literal_column("1")).select_from(contact_tags)
                       .where(contact_tags.c.contact_id == outbox.c.contact_id, contact_tags.c.tag == tag))]
    raise ValueError(f"no explain group {group!r}")


def explain_cells(c: Connection, journey_id: str, periods: Sequence[tuple[datetime, datetime]], since: datetime,
                  metric: str, group: str, tag: str = "") -> list[ExplainCell]:
    """(period index, raw key, successes, trials) of the journey's messages handed to a provider in each period,
    grouped by ``group``; a message's outcomes count from ``since`` on."""
    pg = c.dialect.name == "postgresql"
    success, denominator, _ = DAILY_METRICS[metric]
    hit = case((_outcome(pg, _SUCCESS_TYPES[success], since, hard=success == "hard_bounced"), 1), else_=0)
    bounced = literal_column("0") if denominator == "sent" else case(
        (_outcome(pg, ("message_bounced",), since), 1), else_=0)
    keys = [k.label(f"k{n}") for n, k in enumerate(_keys(pg, group, tag, since))]
    source = outbox.outerjoin(journey_runs, journey_runs.c.id == outbox.c.run_id) if group == "version" else outbox
    cells: list[ExplainCell] = []
    for index, (low, high) in enumerate(periods):
        # one row per message, each test run once (materialised: folded into the GROUP BY, the correlated
        # subqueries would run again for every place the outer query names their column)
        each = (select(*keys, bounced.label("bounced"), hit.label("hit"))
                .select_from(source)
                .where(outbox.c.journey_id == journey_id, outbox.c.sent_at >= low, outbox.c.sent_at < high,
                       outbox.c.status.in_(_STATUSES))
                .cte("m").prefix_with("MATERIALIZED"))
        grouped: list[ColumnElement[Any]] = [each.c[f"k{n}"] for n in range(len(keys))]
        if group == "device":  # one group for every agent once a device is known
            grouped[1] = case((each.c.k0.is_(None), each.c.k1), else_=None)
        successes = func.sum(case((and_(each.c.bounced == 0, each.c.hit == 1), 1), else_=0))
        trials = func.sum(1 - each.c.bounced)
        for row in c.execute(select(*grouped, successes, trials).group_by(*grouped)):
            cells.append(ExplainCell(index, tuple(row[:-2]), int(row[-2]), int(row[-1])))
    return cells
