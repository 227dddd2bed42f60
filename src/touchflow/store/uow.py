"""The SQL unit of work: one connection, one transaction, every repository bound to it."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

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
from touchflow.domain.errors import ConcurrentWrite
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
from touchflow.security.pii import PiiCodec
from touchflow.store.accounts import SqlAccountRepository
from touchflow.store.alerts import SqlAlertRepository
from touchflow.store.approvals import SqlApprovalRepository
from touchflow.store.attribution import SqlAttributionRepository
from touchflow.store.capacity import SqlCapacityRepository
from touchflow.store.connectors import SqlConnectorRepository
from touchflow.store.contact_deletion import SqlContactDeletion
from touchflow.store.contacts import SqlContactRepository
from touchflow.store.content import SqlContentRepository
from touchflow.store.db import READ_ONLY
from touchflow.store.duplicate_index import SqlDuplicateIndex
from touchflow.store.events import SqlEventRepository
from touchflow.store.experiments import SqlExperimentRepository
from touchflow.store.guards import SqlGuardRepository
from touchflow.store.incidents import SqlIncidentRepository
from touchflow.store.journeys import SqlJourneyRepository
from touchflow.store.lifecycle import SqlLifecycleRepository
from touchflow.store.messages import SqlMessageRepository
from touchflow.store.metrics import SqlMetricsRepository
from touchflow.store.personas import SqlAssignmentRepository, SqlPersonaRepository
from touchflow.store.preferences import SqlPreferenceRepository
from touchflow.store.privacy import SqlPrivacyRepository
from touchflow.store.registry import (
    SqlApiKeyRepository,
    SqlAuditRepository,
    SqlRejectRepository,
    SqlSourceRepository,
    SqlTagRuleRepository,
)
from touchflow.store.reports import SqlReportRepository
from touchflow.store.retention import SqlRetentionRepository
from touchflow.store.segments import SqlSegmentRepository
from touchflow.store.tasks import SqlTaskRepository
from touchflow.store.writeback import SqlWritebackRepository

__all__ = ["SqlUnitOfWork"]


class SqlUnitOfWork:
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
    privacy: PrivacyRepository
    incidents: IncidentRepository
    approvals: ApprovalRepository
    contact_deletion: ContactDeletion
    attribution: AttributionRepository
    alerts: AlertRepository
    reports: ReportRepository
    metrics: MetricsRepository
    experiments: ExperimentRepository
    connectors: ConnectorRepository
    writeback: WritebackRepository
    preferences: PreferenceRepository
    capacity: CapacityRepository
    retention: RetentionRepository
    duplicates: DuplicateIndex

    def __init__(self, engine: Engine, read_only: bool = False,
                 pii: Callable[[], PiiCodec | None] | None = None) -> None:
        self._engine = engine
        self._read_only = read_only
        self._pii = pii  # the data keys of personal data, when encryption is enabled (ADR 0026)
        self._connection: Connection | None = None
        self._on_end: list[Callable[[], None]] = []  # released when the transaction ends (the send gate)

    def __enter__(self) -> Self:
        pii = self._pii() if self._pii is not None else None
        connection = self._engine.connect()
        if self._read_only:
            connection = connection.execution_options(**{READ_ONLY: True})
        connection.begin()
        self._connection = connection
        self.contacts = SqlContactRepository(connection, pii)
        self.events = SqlEventRepository(connection, pii)
        self.sources = SqlSourceRepository(connection)
        self.rejects = SqlRejectRepository(connection)
        self.audit = SqlAuditRepository(connection)
        self.api_keys = SqlApiKeyRepository(connection)
        self.tag_rules = SqlTagRuleRepository(connection)
        self.journeys = SqlJourneyRepository(connection, pii)
        self.messages = SqlMessageRepository(connection, pii)
        self.guards = SqlGuardRepository(connection, self._on_end, pii)
        self.tasks = SqlTaskRepository(connection)
        self.content = SqlContentRepository(connection)
        self.lifecycle = SqlLifecycleRepository(connection)
        self.segments = SqlSegmentRepository(connection, pii)
        self.personas = SqlPersonaRepository(connection)
        self.assignment = SqlAssignmentRepository(connection)
        self.accounts = SqlAccountRepository(connection)
        self.privacy = SqlPrivacyRepository(connection)
        self.incidents = SqlIncidentRepository(connection)
        self.approvals = SqlApprovalRepository(connection)
        self.contact_deletion = SqlContactDeletion(connection)
        self.attribution = SqlAttributionRepository(connection)
        self.alerts = SqlAlertRepository(connection)
        self.reports = SqlReportRepository(connection)
        self.metrics = SqlMetricsRepository(connection)
        self.experiments = SqlExperimentRepository(connection)
        self.connectors = SqlConnectorRepository(connection)
        self.writeback = SqlWritebackRepository(connection)
        self.preferences = SqlPreferenceRepository(connection)
        self.capacity = SqlCapacityRepository(connection)
        self.retention = SqlRetentionRepository(connection)
        self.duplicates = SqlDuplicateIndex(connection, pii)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._connection is not None
        try:
            if self._connection.in_transaction():
                self._connection.rollback()
        finally:
            self._connection.close()
            self._connection = None
            self._end()

    def commit(self) -> None:
        assert self._connection is not None
        self._connection.commit()  # the next statement begins a new transaction (autobegin)
        self._end()

    def rollback(self) -> None:
        assert self._connection is not None
        self._connection.rollback()
        self._end()

    def _end(self) -> None:
        while self._on_end:
            self._on_end.pop()()

    def is_conflict(self, exc: BaseException) -> bool:
        if isinstance(exc, IntegrityError | ConcurrentWrite):
            return True
        if isinstance(exc, DBAPIError):
            code = getattr(exc.orig, "sqlstate", None)
            return code in ("40001", "40P01")  # serialization failure, deadlock
        return False
