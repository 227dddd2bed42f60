"""The SQL unit of work: one connection, one transaction, every repository bound to it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from touchflow.domain.ports import (
    ApiKeyRepository,
    AuditRepository,
    ContactRepository,
    EventRepository,
    JourneyRepository,
    RejectRepository,
    SourceRepository,
    TagRuleRepository,
)
from touchflow.store.contacts import SqlContactRepository
from touchflow.store.db import READ_ONLY
from touchflow.store.events import SqlEventRepository
from touchflow.store.journeys import SqlJourneyRepository
from touchflow.store.registry import (
    SqlApiKeyRepository,
    SqlAuditRepository,
    SqlRejectRepository,
    SqlSourceRepository,
    SqlTagRuleRepository,
)

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

    def __init__(self, engine: Engine, read_only: bool = False) -> None:
        self._engine = engine
        self._read_only = read_only
        self._connection: Connection | None = None

    def __enter__(self) -> Self:
        connection = self._engine.connect()
        if self._read_only:
            connection = connection.execution_options(**{READ_ONLY: True})
        connection.begin()
        self._connection = connection
        self.contacts = SqlContactRepository(connection)
        self.events = SqlEventRepository(connection)
        self.sources = SqlSourceRepository(connection)
        self.rejects = SqlRejectRepository(connection)
        self.audit = SqlAuditRepository(connection)
        self.api_keys = SqlApiKeyRepository(connection)
        self.tag_rules = SqlTagRuleRepository(connection)
        self.journeys = SqlJourneyRepository(connection)
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

    def commit(self) -> None:
        assert self._connection is not None
        self._connection.commit()  # the next statement begins a new transaction (autobegin)

    def rollback(self) -> None:
        assert self._connection is not None
        self._connection.rollback()

    def is_conflict(self, exc: BaseException) -> bool:
        if isinstance(exc, IntegrityError):
            return True
        if isinstance(exc, DBAPIError):
            code = getattr(exc.orig, "sqlstate", None)
            return code in ("40001", "40P01")  # serialization failure, deadlock
        return False
