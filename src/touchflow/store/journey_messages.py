"""A journey's messages counted: outbox rows by channel, status and reason; deliveries the providers reported.

A part of ``SqlJourneyRepository`` (store/journeys.py), kept in its own module by idea: the repository stays
one object behind the one ``JourneyRepository`` port; these reads feed the journey pages and the builder's
live numbers, not the runtime.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, func, select

from touchflow.store.tables import events, outbox

__all__ = ["JourneyMessageCounts"]


class JourneyMessageCounts:
    """Counts of the messages journeys sent (``outbox``) and providers delivered (``events``)."""

    _c: Connection

    def messages_by_channel(self, journey_id: str) -> dict[str, int]:
        rows = self._c.execute(select(outbox.c.channel, func.count()).where(outbox.c.journey_id == journey_id)
                               .group_by(outbox.c.channel))
        return {channel: int(n) for channel, n in rows}

    def message_statuses(self, journey_id: str) -> list[tuple[str, str, str | None, int]]:
        """(channel, status, reason, messages) of the journey's outbox rows."""
        rows = self._c.execute(select(outbox.c.channel, outbox.c.status, outbox.c.reason, func.count())
                               .where(outbox.c.journey_id == journey_id)
                               .group_by(outbox.c.channel, outbox.c.status, outbox.c.reason))
        return [(channel, status, reason, int(n)) for channel, status, reason, n in rows]

    def message_statuses_of(self, journey_ids: Collection[str]) -> dict[str, list[tuple[str, str, str | None, int]]]:
        """``message_statuses`` of several journeys in one read of the outbox."""
        found: dict[str, list[tuple[str, str, str | None, int]]] = {}
        rows = self._c.execute(select(outbox.c.journey_id, outbox.c.channel, outbox.c.status, outbox.c.reason,
                                      func.count()).where(outbox.c.journey_id.in_(sorted(journey_ids)))
                               .group_by(outbox.c.journey_id, outbox.c.channel, outbox.c.status, outbox.c.reason))
        for journey_id, channel, status, reason, n in rows:
            found.setdefault(journey_id, []).append((channel, status, reason, int(n)))
        return found

    def delivered_by_channel(self, journey_id: str, channels: Collection[str] | None = None) -> dict[str, int]:
        """Messages of the journey a provider reported delivered (``message_delivered`` events), by channel (only
        ``channels`` when given): read from the events' message columns (filled from the properties when
        stored), on the rollup's index."""
        e = events.c
        where = [e.msg_id.is_not(None), e.msg_journey == journey_id, e.type == "message_delivered",
                 e.msg_channel != ""]
        if channels is not None:
            where.append(e.msg_channel.in_(sorted(channels)))
        rows = self._c.execute(select(e.msg_channel, func.count()).where(*where).group_by(e.msg_channel))
        return {str(channel): int(n) for channel, n in rows}
