"""PIPL storage: the consent ledger, erasure tombstones, everything held about one person (an access request)
and the erasure itself — set-wise statements over the person's rows, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from touchflow.domain.contacts import STANDARD_FIELDS
from touchflow.domain.governance.privacy import anonymised_properties
from touchflow.domain.governance.privacy_ports import ConsentEntry, ErasureCounts, PersonData
from touchflow.store.bulk import bulk_insert
from touchflow.store.tables import (
    consent_ledger,
    contact_consents,
    contact_freezes,
    contact_identities,
    contact_merges,
    contact_tags,
    contacts,
    erasure_tombstones,
    events,
    journey_runs,
    journeys,
    lead_scores,
    onsite_messages,
    outbox,
    score_history,
    suppressions,
    tasks,
)

__all__ = ["SqlPrivacyRepository", "record_consent_ledger"]

_CHUNK = 500
_KEEP_FIELDS = frozenset({"lifecycle_stage"})  # an aggregate, not the person


def _insert_ignoring(connection: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    make = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(make(table).on_conflict_do_nothing(), rows)


def record_consent_ledger(connection: Connection, entries: Sequence[tuple[str, str, str, str, datetime]],
                          at: datetime | None = None) -> None:
    """Append (contact, channel, status, source, at) statements the ledger has not seen yet: called wherever
    ``contact_consents`` is written, so the ledger holds every statement, not only the one in force."""
    bulk_insert(connection, consent_ledger, ("contact_id", "channel", "status", "source", "at", "recorded_at"),
                [(c, ch, st, so[:100], when, at) for c, ch, st, so, when in dict.fromkeys(entries)],
                ignore_conflicts=True)  # the statement is already there: an update that did not change it


class SqlPrivacyRepository:
    def __init__(self, connection: Connection) -> None:
        self._c = connection

    # --- consent ledger ----------------------------------------------------------------------

    def consent_history(self, contact_ids: Collection[str]) -> list[ConsentEntry]:
        rows = self._c.execute(select(consent_ledger).where(consent_ledger.c.contact_id.in_(list(contact_ids)))
                               .order_by(consent_ledger.c.at, consent_ledger.c.id))
        return [ConsentEntry(r.contact_id, r.channel, r.status, r.source, r.at, r.recorded_at) for r in rows]

    def record_consents(self, entries: Sequence[ConsentEntry]) -> None:
        _insert_ignoring(self._c, consent_ledger, [
            {"contact_id": e.contact_id, "channel": e.channel, "status": e.status, "source": e.source[:100],
             "at": e.at, "recorded_at": e.recorded_at} for e in entries])

    # --- an access request -------------------------------------------------------------------

    def person_data(self, contact_ids: Collection[str]) -> PersonData:
        ids = list(contact_ids)
        data = PersonData()
        for r in self._c.execute(select(events).where(events.c.contact_id.in_(ids)).order_by(events.c.occurred_at)):
            data.events.append({"id": r.id, "type": r.type, "occurred_at": r.occurred_at, "source": r.source,
                                "received_at": r.received_at, "properties": r.properties, "identity": r.identity})
        for r in self._c.execute(select(outbox).where(outbox.c.contact_id.in_(ids)).order_by(outbox.c.created_at)):
            data.messages.append({"id": r.id, "channel": r.channel, "template": r.template, "status": r.status,
                                  "address": r.address, "created_at": r.created_at, "sent_at": r.sent_at,
                                  "journey_id": r.journey_id, "reason": r.reason, "attempts": r.attempts})
        for r in self._c.execute(select(onsite_messages).where(onsite_messages.c.contact_id.in_(ids))):
            data.messages.append({"id": r.id, "channel": "onsite", "title": r.title, "status": r.status,
                                  "created_at": r.created_at, "shown_at": r.shown_at})
        for r in self._c.execute(select(tasks).where(tasks.c.contact_id.in_(ids)).order_by(tasks.c.created_at)):
            data.tasks.append({"id": r.id, "queue": r.queue, "title": r.title, "assignee": r.assignee,
                               "status": r.status, "created_at": r.created_at, "due_at": r.due_at,
                               "done_at": r.done_at})
        for r in self._c.execute(select(lead_scores).where(lead_scores.c.contact_id.in_(ids))):
            data.scores.append({"score": r.score, "model_version": r.model_version, "at": r.computed_at,
                                "current": True})
        for r in self._c.execute(select(score_history).where(score_history.c.contact_id.in_(ids))
                                 .order_by(score_history.c.id)):
            data.scores.append({"score": r.score, "model_version": r.model_version, "at": r.at, "current": False})
        for r in self._c.execute(select(journey_runs.c.id, journeys.c.key, journey_runs.c.status,
                                        journey_runs.c.entered_at, journey_runs.c.node_id)
                                 .join(journeys, journeys.c.id == journey_runs.c.journey_id)
                                 .where(journey_runs.c.contact_id.in_(ids)).order_by(journey_runs.c.entered_at)):
            data.journeys.append({"run_id": r.id, "journey": r.key, "status": r.status, "entered_at": r.entered_at,
                                  "node": r.node_id})
        return data

    # --- tombstones ------------------------------------------------------------------------

    def has_tombstones(self) -> bool:
        return self._c.execute(select(erasure_tombstones.c.digest).limit(1)).first() is not None

    def tombstoned(self, digests: Collection[str]) -> dict[str, str]:
        wanted = sorted(set(digests))
        found: dict[str, str] = {}
        query = select(erasure_tombstones.c.digest, erasure_tombstones.c.request_id).where(
            erasure_tombstones.c.digest.in_(bindparam("digests", expanding=True)))  # no per-value coercion
        for start in range(0, len(wanted), _CHUNK):
            found.update({r.digest: r.request_id for r in self._c.execute(
                query, {"digests": wanted[start:start + _CHUNK]})})
        return found

    def add_tombstones(self, entries: Sequence[tuple[str, str]], request_id: str, at: datetime) -> None:
        _insert_ignoring(self._c, erasure_tombstones, [
            {"digest": digest, "kind": kind, "request_id": request_id[:64], "erased_at": at}
            for digest, kind in entries])

    # --- erasure ---------------------------------------------------------------------------

    def merged_into(self, contact_id: str) -> list[str]:
        """The ids merged into this contact (their rows stay as tombstones of the merge)."""
        return [r[0] for r in self._c.execute(select(contacts.c.id).where(contacts.c.merged_into == contact_id))]

    def erase(self, contact_ids: Collection[str], marker: dict[str, Any], at: datetime) -> ErasureCounts:
        """Remove what names the person and keep what aggregates count: the contact row stays (its id is random)
        with no attributes; identities go; events stay with their type, time, journey and amounts; messages
        stay without address or content; queued messages are cancelled; runs end."""
        ids = list(contact_ids)
        c = self._c
        addresses = [(r.kind, r.value) for r in c.execute(select(contact_identities.c.kind, contact_identities.c.value)
                                                          .where(contact_identities.c.contact_id.in_(ids)))]
        c.execute(update(contacts).where(contacts.c.id.in_(ids)).values(
            **{f: None for f in STANDARD_FIELDS if f not in _KEEP_FIELDS}, custom=marker, lineage={}, updated_at=at))
        identities = c.execute(delete(contact_identities).where(contact_identities.c.contact_id.in_(ids))).rowcount
        c.execute(delete(contact_tags).where(contact_tags.c.contact_id.in_(ids)))
        c.execute(delete(contact_consents).where(contact_consents.c.contact_id.in_(ids)))
        values = sorted({value for _, value in addresses})
        for start in range(0, len(values), _CHUNK):  # an address kept on a suppression list names the person too
            c.execute(delete(suppressions).where(suppressions.c.address.in_(values[start:start + _CHUNK])))
        stored = list(c.execute(select(events.c.id, events.c.properties).where(events.c.contact_id.in_(ids))))
        for event_id, properties in stored:
            c.execute(update(events).where(events.c.id == event_id).values(
                properties=anonymised_properties(properties or {}), identity=None))
        messages = c.execute(update(outbox).where(outbox.c.contact_id.in_(ids)).values(
            address=None, payload={"erased": True}, last_error=None)).rowcount
        c.execute(update(outbox).where(outbox.c.contact_id.in_(ids), outbox.c.status.in_(("queued", "sending")))
                  .values(status="skipped", reason="erased", updated_at=at))
        c.execute(update(onsite_messages).where(onsite_messages.c.contact_id.in_(ids)).values(
            title="", body="", url=None))
        task_count = c.execute(update(tasks).where(tasks.c.contact_id.in_(ids)).values(title="(erased)")).rowcount
        runs = c.execute(update(journey_runs).where(
            journey_runs.c.contact_id.in_(ids), journey_runs.c.status.in_(("active", "waiting", "paused")))
            .values(status="exited", wake_at=None, entry_data=None, error="erased", updated_at=at)).rowcount
        c.execute(update(journey_runs).where(journey_runs.c.contact_id.in_(ids)).values(entry_data=None))
        c.execute(update(contact_merges).where(
            (contact_merges.c.winner_id.in_(ids)) | (contact_merges.c.loser_id.in_(ids))).values(
            conflicts=[], undo=None))
        c.execute(update(contact_freezes).where(contact_freezes.c.contact_id.in_(ids)).values(
            reason="(erased)", lift_reason=None))
        return ErasureCounts(identities, len(stored), messages, task_count, runs)
