"""What the core needs from the outside world, as Protocols. ``store`` implements them on SQL."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from touchflow.domain.capacity import CapacityRepository
from touchflow.domain.connectors.ports import ConnectorRepository, WritebackRepository
from touchflow.domain.contacts import ContactState, FieldConflict
from touchflow.domain.content_ports import ContentRepository
from touchflow.domain.duplicates import DuplicateCandidate
from touchflow.domain.events import EventInput, JSONValue
from touchflow.domain.governance.account_ports import AccountRepository
from touchflow.domain.governance.audit_ports import AuditLog
from touchflow.domain.governance.preferences import PreferenceRepository
from touchflow.domain.governance.privacy_ports import IncidentRepository, PrivacyRepository
from touchflow.domain.identities import Identity
from touchflow.domain.lifecycle_ports import LifecycleRepository
from touchflow.domain.measurement.alert_ports import AlertRepository
from touchflow.domain.measurement.experiment_ports import ExperimentRepository
from touchflow.domain.measurement.metrics_ports import MetricsRepository
from touchflow.domain.measurement.report_ports import ReportRepository
from touchflow.domain.predicates import Condition, ContactFacts, EvalContext
from touchflow.domain.retention import RetentionRepository
from touchflow.domain.segment_ports import SegmentRepository
from touchflow.domain.sources import Source
from touchflow.domain.tagging import TagRule
from touchflow.domain.transitions import Run, RunStatus, StepRecord
from touchflow.domain.unmerge import MergeUndo

if TYPE_CHECKING:  # messaging_ports imports OutboxMessage from here
    from touchflow.domain.governance.approval_ports import ApprovalRepository, ContactDeletion
    from touchflow.domain.measurement.attribution_ports import AttributionRepository
    from touchflow.domain.messaging_ports import GuardRepository, MessageRepository, TaskRepository
    from touchflow.domain.persona_ports import AssignmentRepository, PersonaRepository

__all__ = [
    "ApiKeyRecord",
    "ApiKeyRepository",
    "AuditRepository",
    "ContactRepository",
    "EventRepository",
    "IdentityLink",
    "InboxEvent",
    "JourneyRecord",
    "JourneyRepository",
    "MergeRecord",
    "OutboxMessage",
    "RejectRepository",
    "SourceRepository",
    "StoredEvent",
    "StoredStep",
    "TagRuleRepository",
    "TaskRecord",
    "UnitOfWork",
]


@dataclass(frozen=True)
class IdentityLink:
    identity: Identity
    contact_id: str
    source: str
    at: datetime


@dataclass(frozen=True)
class MergeRecord:
    winner_id: str
    loser_id: str
    linked_by: str  # the identifier (or "manual") that showed the two are one person
    source: str
    at: datetime
    conflicts: tuple[FieldConflict, ...] = ()
    undone_at: datetime | None = None  # unmerged by a person (see ``unmerge``)
    undone_by: str | None = None


@dataclass(frozen=True)
class MergeToUndo:
    id: int
    record: MergeRecord
    undo: Mapping[str, Any] | None  # ``MergeUndo.document()``; None for merges made before it was kept


@dataclass(frozen=True)
class UnmergeCounts:
    identities: int
    events: int


@dataclass(frozen=True)
class StoredEvent:
    id: str
    contact_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    source: str
    properties: dict[str, JSONValue]


@dataclass(frozen=True)
class ApiKeyRecord:
    """A key and what it may do: its ``role``, narrowed to ``scopes`` when set (never widened).

    A personal key (``owner_user_id``) carries its owner's role, copied at creation and kept in step by
    ``services.apikeys.set_owner_role``; a service account's key (``service_account``) has a role of its own.
    Site keys and callback tokens live in the same table with no role (``""``): they reach no ``/v1`` route."""

    id: str
    name: str
    key_hash: str
    created_at: datetime
    revoked_at: datetime | None
    role: str = ""
    scopes: frozenset[str] | None = None
    owner_user_id: str | None = None
    service_account: str | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class JourneyRecord:
    id: str
    key: str
    name: str
    status: str  # active | paused | archived
    current_version: int | None
    created_at: datetime
    updated_at: datetime
    status_reason: str = ""  # why it is paused: a person's reason or the alert's (0019)


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    idempotency_key: str
    run_id: str | None
    contact_id: str
    journey_id: str | None
    node_id: str | None
    channel: str
    template: str | None
    payload: dict[str, Any]
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    address: str | None = None
    sent_at: datetime | None = None
    provider_id: str | None = None
    reason: str | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class TaskRecord:
    id: str
    idempotency_key: str
    contact_id: str | None  # None: a task about a journey (an alert's), not a contact (0022)
    run_id: str | None
    journey_id: str | None
    node_id: str | None
    queue: str
    title: str
    assignee: str | None
    status: str
    created_at: datetime
    due_at: datetime
    done_at: datetime | None = None
    breached_at: datetime | None = None


@dataclass(frozen=True)
class InboxEvent:
    event_id: str
    contact_id: str
    type: str
    occurred_at: datetime
    received_at: datetime
    seq: int = 0


@dataclass(frozen=True)
class StoredStep:
    run_id: str
    node_id: str
    kind: str
    edge: str | None
    at: datetime
    detail: dict[str, Any]


class JourneyRepository(Protocol):
    def get(self, key_or_id: str) -> JourneyRecord | None: ...
    def all(self) -> list[JourneyRecord]: ...
    def add(self, record: JourneyRecord) -> None: ...
    def save(self, record: JourneyRecord) -> None: ...
    def add_version(self, journey_id: str, version: int, definition: dict[str, Any], source_text: str,
                    at: datetime, by: str) -> None: ...
    def version(self, journey_id: str, version: int) -> dict[str, Any] | None: ...
    def source_text(self, journey_id: str, version: int) -> str | None: ...
    def save_draft(self, journey_id: str, definition: dict[str, Any], source_text: str, at: datetime,
                   by: str) -> None: ...  # the builder's one draft: version 0, never run
    def next_scans(self) -> dict[str, datetime]: ...
    def claim_scan(self, journey_id: str, now: datetime, next_at: datetime) -> bool: ...
    def ensure_scan(self, journey_id: str, at: datetime) -> None: ...
    def set_next_scan(self, journey_id: str, at: datetime) -> None: ...
    def insert_runs(self, runs: Sequence[Run], now: datetime) -> None: ...
    def update_runs(self, runs: Sequence[Run], now: datetime) -> None: ...
    def claim_due(self, now: datetime, limit: int) -> list[Run]: ...
    def runs_of(self, contact_ids: Collection[str], journey_ids: Collection[str] | None = None,
                statuses: Collection[RunStatus] | None = None) -> list[Run]: ...
    def runs_by_journey(self, journey_id: str) -> list[Run]: ...
    def messages_by_channel(self, journey_id: str) -> dict[str, int]: ...
    def message_statuses(self, journey_id: str) -> list[tuple[str, str, str | None, int]]: ...
    def delivered_by_channel(self, journey_id: str) -> dict[str, int]: ...
    def next_wake_at(self) -> datetime | None: ...
    def get_run(self, run_id: str) -> Run | None: ...
    def count_runs(self, journey_id: str) -> dict[str, int]: ...
    def waiting_at_nodes(self, journey_id: str) -> dict[str, int]: ...
    def add_steps(self, rows: Sequence[tuple[Run, StepRecord]]) -> None: ...
    def steps_of(self, run_ids: Collection[str]) -> list[StoredStep]: ...
    def enqueue(self, messages: Sequence[OutboxMessage]) -> None: ...
    def messages_of(self, contact_ids: Collection[str]) -> list[OutboxMessage]: ...
    def add_tasks(self, records: Sequence[TaskRecord]) -> None: ...
    def add_inbox(self, rows: Sequence[InboxEvent]) -> None: ...
    def claim_inbox(self, limit: int) -> list[InboxEvent]: ...
    def inbox_head(self, limit: int) -> list[int]:
        """The sequence numbers ``claim_inbox`` would claim, without loading the rows (SQLite: to confirm that
        events read ahead in a snapshot are still the inbox's head)."""
        ...
    def lock_contacts(self, contact_ids: Collection[str]) -> None:
        """Wait for the per-contact lock the inbox and timer claims take (until the transaction ends), so
        an entry decided here and one decided there never both read "not entered yet"."""
    def delete_inbox(self, seqs: Sequence[int]) -> None: ...
    def inbox_size(self) -> int: ...
    def scan_inputs_changed(self, journey_id: str, since: datetime, arrivals: Collection[str],
                            interactions: Collection[str], stale_before: datetime) -> bool: ...
    def next_window_crossing(self, journey_id: str, after: datetime, windows: Mapping[timedelta, Collection[str]],
                             cooldown: timedelta | None) -> datetime | None: ...
    def load_facts(self, contact_ids: Collection[str], event_types: Collection[str] | None,
                   since: datetime | None) -> dict[str, ContactFacts]: ...
    def matching_contacts(self, condition: Condition, ctx: EvalContext) -> list[str]: ...


class ContactRepository(Protocol):
    def lookup(self, identities: Collection[Identity]) -> dict[Identity, str]: ...
    def refresh_statistics(self) -> None: ...
    def load(self, ids: Collection[str]) -> dict[str, ContactState]: ...
    def insert(self, states: Sequence[ContactState], at: datetime) -> None: ...
    def update(self, states: Sequence[ContactState], at: datetime) -> None: ...
    def add_identities(self, links: Sequence[IdentityLink]) -> None: ...
    def merge(self, merges: Sequence[MergeRecord]) -> None: ...
    def resolve_id(self, contact_id: str) -> str | None: ...
    def identities_of(self, contact_id: str) -> list[IdentityLink]: ...
    def merges_of(self, contact_id: str) -> list[MergeRecord]: ...

    def merge_to_undo(self, loser_id: str) -> MergeToUndo | None: ...

    def unmerge(self, merge_id: int, survivor_id: str, loser: ContactState, undo: MergeUndo, merged_at: datetime,
                by: str, now: datetime) -> UnmergeCounts: ...
    def search(self, text: str | None, tag: str | None, limit: int, offset: int) -> list[str]: ...
    def duplicate_candidates(self) -> Iterator[DuplicateCandidate]: ...
    def count(self) -> int: ...
    def completeness(self, fields: Sequence[str]) -> dict[str, int]: ...


class EventRepository(Protocol):
    def existing_ids(self, ids: Collection[str]) -> set[str]: ...
    def insert(self, events: Sequence[tuple[EventInput, str]], received_at: datetime) -> None: ...
    def properties_of(self, ids: Collection[str]) -> dict[str, dict[str, Any]]: ...
    def recent(self, contact_id: str, limit: int) -> list[StoredEvent]: ...
    def count_for(self, contact_id: str) -> int: ...
    def count(self) -> int: ...


class SourceRepository(Protocol):
    def get(self, name: str) -> Source | None: ...
    def save(self, source: Source) -> None: ...
    def record_sync(self, name: str, received: int, accepted: int, rejected: int, at: datetime) -> None: ...
    def all(self) -> list[Source]: ...


class RejectRepository(Protocol):
    def add(self, kind: str, source: str, row: int | None, payload: JSONValue, reason: str,
            at: datetime) -> None: ...
    def existing(self, kind: str, source: str, rows: Sequence[int]) -> list[tuple[int, str, JSONValue]]: ...
    def summary(self) -> dict[str, int]: ...


class AuditRepository(AuditLog, Protocol):
    """The hash-chained audit log (``domain/governance``): ``record(actor, action, subject, details, at)``."""


class ApiKeyRepository(Protocol):
    def add(self, record: ApiKeyRecord) -> None: ...
    def by_hash(self, key_hash: str) -> ApiKeyRecord | None: ...
    def all(self) -> list[ApiKeyRecord]: ...
    def revoke(self, key_id: str, at: datetime) -> bool: ...
    def touch(self, key_id: str, at: datetime) -> None: ...
    def set_owner_role(self, owner_user_id: str, role: str) -> int: ...
    def revoke_owned_by(self, owner_user_id: str, at: datetime) -> int: ...


class TagRuleRepository(Protocol):
    def all(self) -> list[TagRule]: ...
    def save(self, rule: TagRule) -> None: ...


class UnitOfWork(Protocol):
    """One transaction. Leaving the ``with`` block without ``commit()`` rolls back."""

    contacts: ContactRepository
    events: EventRepository
    sources: SourceRepository
    rejects: RejectRepository
    audit: AuditRepository
    api_keys: ApiKeyRepository
    tag_rules: TagRuleRepository
    journeys: JourneyRepository
    messages: MessageRepository
    guards: GuardRepository
    tasks: TaskRepository
    content: ContentRepository
    lifecycle: LifecycleRepository
    segments: SegmentRepository
    personas: PersonaRepository
    assignment: AssignmentRepository
    accounts: AccountRepository
    privacy: PrivacyRepository  # PIPL: consent ledger, tombstones, erasure (domain/governance/privacy_ports.py)
    incidents: IncidentRepository  # P7
    approvals: ApprovalRepository
    contact_deletion: ContactDeletion
    attribution: AttributionRepository
    alerts: AlertRepository
    reports: ReportRepository
    metrics: MetricsRepository
    experiments: ExperimentRepository
    connectors: ConnectorRepository  # issue 14 (domain/connectors/ports.py)
    writeback: WritebackRepository  # issue 14, write-back outbox (domain/connectors/ports.py)
    preferences: PreferenceRepository  # console language, zone, theme (domain/governance/preferences.py)
    capacity: CapacityRepository  # worker load reports and capacity samples (domain/capacity.py)
    retention: RetentionRepository  # deleting finished rows past their retention (domain/retention.py)

    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def is_conflict(self, exc: BaseException) -> bool:
        """True for a clash with a concurrent transaction (unique key, deadlock): retry the whole unit."""
        ...
