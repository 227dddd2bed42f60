"""Rollups count providers' receipts (ADR 0050): ``metric_daily.receipts``, the ``message_delivered`` events of
every channel, so the console's list of journeys reads the rollups only (email's ``delivered`` is sent − bounced).

Backfill, exact up to the rollups' watermark (what the refreshes counted, nothing later: the next refresh counts
the rest, receipts included):
* channels with receipts: their ``delivered`` is the count of ``message_delivered`` events, so ``receipts``
  takes it in place;
* email and onsite: the ``message_delivered`` events below the watermark counted by the rollups' own query
  (``rollup_sql.count_events``, on ``ix_events_rollup``), by local day of the workspace zone, added to their row
  — created when the receipts are all it counts — under the journey's current entry segment, as a rebuild
  files them.
A rollup not yet on the sequence watermark (no cursor, or an old one) is recounted whole by the next refresh.

And ``ix_outbox_journey_id_sent_at``: what one journey sent in a period ("explain this drop" by journey), instead
of every journey's messages of the period on ``ix_outbox_sent_at``.

Revision ID: 0034_receipts_rollup
Revises: 0033_console_aggregates
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

from touchflow.domain.measurement.metrics_ports import Window
from touchflow.domain.measurement.rollup_columns import entry_segment
from touchflow.store.rollup_sql import NO_RECEIPTS, count_events

revision = "0034_receipts_rollup"
down_revision = "0033_console_aggregates"
branch_labels = None
depends_on = None

_KEY = ("day", "journey_id", "node_id", "template", "channel", "segment", "reason")
# the counters metric_daily has at this revision (a later one may add more, with defaults)
_COUNTERS = ("entered", "queued", "sent", "delivered", "bounced", "opened", "opened_unique", "clicked",
             "clicked_unique", "converted", "unsubscribed", "complained", "skipped")
_CURSOR_KEY = "metrics.cursor"  # services.metrics.CURSOR_KEY
_CURSOR_VERSION = 2
_POLICY_KEY = "guardrails"  # services.guarding.POLICY_KEY
_DEFAULT_ZONE = "Asia/Shanghai"  # domain.guardrails.model.GuardrailPolicy.default_timezone


def _setting(c: sa.Connection, key: str) -> dict[str, Any]:
    value = c.execute(sa.text("SELECT value FROM workspace_settings WHERE key = :k"), {"k": key}).scalar()
    found = json.loads(value) if isinstance(value, str) else value
    return dict(found) if isinstance(found, dict) else {}


def _segments(c: sa.Connection) -> dict[str, str]:
    """Each journey's entry segment, from its current version (services.metrics files rows under it)."""
    found: dict[str, str] = {}
    query = sa.text("SELECT j.id, v.definition FROM journeys j LEFT JOIN journey_versions v "
                    "ON v.journey_id = j.id AND v.version = j.current_version")
    for journey_id, definition in c.execute(query):
        doc = json.loads(definition) if isinstance(definition, str) else definition
        found[str(journey_id)] = entry_segment(doc if isinstance(doc, dict) else None)
    return found


def backfill(c: sa.Connection) -> int:
    """Fill ``receipts`` of the stored rollup rows; returns how many email/onsite receipts were filed."""
    no_receipts = ", ".join(f"'{ch}'" for ch in sorted(NO_RECEIPTS))
    c.execute(sa.text(f"UPDATE metric_daily SET receipts = delivered WHERE channel NOT IN ({no_receipts})"))
    cursor = _setting(c, _CURSOR_KEY)
    if cursor.get("version") != _CURSOR_VERSION or not int(cursor.get("events", 0)):
        return 0  # the next refresh recounts every row from the raw events, receipts included
    zone = ZoneInfo(str(_setting(c, _POLICY_KEY).get("default_timezone") or _DEFAULT_ZONE))
    counted = Window(0, int(cursor["events"]), skip=tuple(int(x) for x in cursor.get("events_pending", ())))
    segments = _segments(c)
    rows: list[dict[str, str | int]] = [
        {"day": g.day, "journey_id": g.journey_id, "node_id": g.node_id, "template": g.template,
         "channel": g.channel, "segment": segments.get(g.journey_id, ""), "reason": g.reason,
         "n": g.counts["receipts"]}
        for g in count_events(c, counted, zone, types=("message_delivered",))
        if g.channel in NO_RECEIPTS and g.counts["receipts"]]
    if rows:
        keys = ", ".join(_KEY)
        c.execute(sa.text(
            f"INSERT INTO metric_daily ({keys}, {', '.join(_COUNTERS)}, revenue, receipts) "
            f"VALUES ({', '.join(f':{k}' for k in _KEY)}, {', '.join('0' for _ in _COUNTERS)}, 0, :n) "
            f"ON CONFLICT ({keys}) DO UPDATE SET receipts = metric_daily.receipts + excluded.receipts"), rows)
    return sum(int(r["n"]) for r in rows)


def upgrade() -> None:
    op.add_column("metric_daily", sa.Column("receipts", sa.BigInteger(), nullable=False, server_default="0"))
    backfill(op.get_bind())
    # "explain this drop" reads one journey's messages of two periods: by journey and time, not every journey's
    op.create_index("ix_outbox_journey_id_sent_at", "outbox", ["journey_id", "sent_at"])
    _refresh_statistics(op.get_bind())


def _refresh_statistics(bind: sa.Connection) -> None:
    """SQLite statistics gathered before this index (ANALYZE) know nothing of it, and the planner then takes it
    for the journeys list's count by status, reading every message row instead of the covering
    ix_outbox_journey_channel_status (1.0 s against 0.1 s at 400k messages). Stale statistics are refreshed;
    a database never analysed is left so (PostgreSQL analyses on its own)."""
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first() is None:
        return
    if bind.exec_driver_sql("SELECT 1 FROM sqlite_stat1 WHERE tbl = 'outbox' LIMIT 1").first() is not None:
        bind.exec_driver_sql("ANALYZE outbox")


def downgrade() -> None:
    op.drop_index("ix_outbox_journey_id_sent_at", table_name="outbox")
    # rows that counted receipts only (an email delivered the day after its send) mean nothing without them
    nothing = " AND ".join(f"{n} = 0" for n in _COUNTERS)
    op.execute(f"DELETE FROM metric_daily WHERE {nothing} AND revenue = 0")
    with op.batch_alter_table("metric_daily") as batch:
        batch.drop_column("receipts")
