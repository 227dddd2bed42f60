"""The rollup dimensions of a message lifecycle event, kept in real columns of ``events`` (ADR 0033).

The rollups group by journey, step, template label, channel and skip reason. They live in an event's JSON
properties; reading them back out per event at rollup time is what made the rollup slow, so they are
derived once, when the event is stored, by ``message_columns``. The migration's backfill and the database
trigger that fills rows written around the repository (raw SQL) compute the same values in SQL
(``store/rollup_sql.py``); a test checks the three agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, NamedTuple

from touchflow.domain.measurement.local_days import quarter_of
from touchflow.domain.measurement.metrics import MESSAGE_EVENT_COUNTER

__all__ = ["AFTER_SEND", "MESSAGE_TYPES", "MessageColumns", "entry_segment", "message_columns", "message_id_of",
           "sent_event_id"]

MESSAGE_TYPES: Final = frozenset({*MESSAGE_EVENT_COUNTER, "message_skipped"})
# what follows a send inherits the template version its ``message_sent`` event recorded
AFTER_SEND: Final = frozenset(MESSAGE_TYPES - {"message_queued", "message_skipped", "message_sent"})


class MessageColumns(NamedTuple):
    msg_id: str  # the message the event belongs to (its own id when it names none)
    msg_journey: str  # "" outside journeys
    msg_node: str
    msg_template: str  # name or name@version
    msg_channel: str
    msg_reason: str  # the guardrail of a skip, "" otherwise
    msg_bucket: int  # the UTC quarter hour it occurred in (local_days.quarter_of): a local day's building block


def message_id_of(event_id: str, props: Mapping[str, Any]) -> str:
    value = props.get("message_id")
    return str(value) if value else event_id


def sent_event_id(message_id: str) -> str:
    """The dispatcher's id of a message's ``message_sent`` event (``m_<message>_sent``)."""
    return f"m_{message_id}_sent"


def message_columns(event_id: str, event_type: str, props: Mapping[str, Any], occurred_at: datetime,
                    sent_version: Any = None) -> MessageColumns | None:
    """The columns of a message event (``None`` for any other event). ``sent_version``: the template version
    the message's ``message_sent`` event recorded, used by later events that carry none of their own."""
    if event_type not in MESSAGE_TYPES:
        return None
    name = str(props.get("template") or "")
    version = props.get("template_version", sent_version if event_type in AFTER_SEND else None)
    template = f"{name}@{version}" if name and version is not None else name
    reason = str(props.get("guardrail") or "unknown")[:64] if event_type == "message_skipped" else ""
    return MessageColumns(message_id_of(event_id, props)[:64], str(props.get("journey_id") or "")[:40],
                          str(props.get("node_id") or "")[:64], template[:200], str(props.get("channel") or "")[:32],
                          reason, quarter_of(occurred_at))


def entry_segment(definition: Mapping[str, Any] | None) -> str:
    """The rollup's ``segment`` of a journey: the entry segment of its current definition, ``""`` when none."""
    trigger = (definition or {}).get("trigger")
    segment = trigger.get("segment") if isinstance(trigger, dict) else None
    return str(segment)[:64] if segment else ""
