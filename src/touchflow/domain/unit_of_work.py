"""One transaction over every subsystem's repositories, as a Protocol. ``store/uow.py`` implements it.

Not a port module of its own subsystem: it only gathers the ports that live beside each subsystem
(``domain/<subsystem>/ports.py`` and friends), so the ports never import one another.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from touchflow.domain.capacity import CapacityRepository
from touchflow.domain.connectors.ports import ConnectorRepository, WritebackRepository
from touchflow.domain.contact_ports import (
    ContactRepository,
    EventRepository,
    RejectRepository,
    SourceRepository,
    TagRuleRepository,
)
from touchflow.domain.content.ports import ContentRepository
from touchflow.domain.duplicate_ports import DuplicateIndex
from touchflow.domain.governance.account_ports import AccountRepository, ApiKeyRepository
from touchflow.domain.governance.approval_ports import ApprovalRepository, ContactDeletion
from touchflow.domain.governance.audit_ports import AuditRepository
from touchflow.domain.governance.preferences import PreferenceRepository
from touchflow.domain.governance.privacy_ports import IncidentRepository, PrivacyRepository
from touchflow.domain.guardrails.ports import GuardRepository
from touchflow.domain.journeys.ports import JourneyRepository
from touchflow.domain.measurement.alert_ports import AlertRepository
from touchflow.domain.measurement.attribution_ports import AttributionRepository
from touchflow.domain.measurement.experiment_ports import ExperimentRepository
from touchflow.domain.measurement.metrics_ports import MetricsRepository
from touchflow.domain.measurement.report_ports import ReportRepository
from touchflow.domain.messaging.ports import MessageRepository, TaskRepository
from touchflow.domain.retention import RetentionRepository
from touchflow.domain.scoring.persona_ports import AssignmentRepository, PersonaRepository
from touchflow.domain.scoring.ports import LifecycleRepository
from touchflow.domain.segments.ports import SegmentRepository

__all__ = ["UnitOfWork"]


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
    duplicates: DuplicateIndex  # stored duplicate suggestions (domain/duplicate_ports.py)

    def __enter__(self) -> Self: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def is_conflict(self, exc: BaseException) -> bool:
        """True for a clash with a concurrent transaction (unique key, deadlock): retry the whole unit."""
        ...
