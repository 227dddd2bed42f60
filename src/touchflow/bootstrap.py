"""The one composition root: settings in, a wired application out. Nothing happens at import."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from touchflow.clock import Clock, SystemClock
from touchflow.config import Settings
from touchflow.services.context import ServiceContext
from touchflow.store import schema
from touchflow.store.db import make_engine
from touchflow.store.uow import SqlUnitOfWork

__all__ = ["Application", "bootstrap"]


@dataclass
class Application:
    settings: Settings
    engine: Engine
    services: ServiceContext

    def init_database(self) -> str | None:
        """Create or upgrade the schema (idempotent); returns the revision."""
        revision = schema.upgrade(self.engine)
        from touchflow.services.setup import seed_defaults

        seed_defaults(self.services)
        return revision

    def close(self) -> None:
        self.engine.dispose()


def bootstrap(settings: Settings | None = None, clock: Clock | None = None) -> Application:
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    services = ServiceContext(
        uow=lambda: SqlUnitOfWork(engine),
        read_uow=lambda: SqlUnitOfWork(engine, read_only=True),
        clock=clock or SystemClock(),
    )
    return Application(settings, engine, services)
