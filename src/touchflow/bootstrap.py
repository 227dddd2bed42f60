"""The one composition root: settings in, a wired application out. Nothing happens at import."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from touchflow.clock import Clock, SystemClock
from touchflow.config import Settings
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.compose import Composer
from touchflow.engine.dispatcher import Dispatcher, OnSent
from touchflow.engine.worker import Worker
from touchflow.security.crypto import SecretBox, SecretError, key_from_text, load_or_create_key_file
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

    def secret_box(self) -> SecretBox:
        """The key from TOUCHFLOW_SECRET_KEY, or (SQLite) a key file beside the database, made on first use."""
        if self.settings.secret_key:
            return SecretBox(key_from_text(self.settings.secret_key))
        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database and database != ":memory:":
            return SecretBox(load_or_create_key_file(Path(f"{database}.key")))
        raise SecretError("set TOUCHFLOW_SECRET_KEY (base64 of 32 random bytes) to store channel credentials")

    def channels(self) -> ChannelRegistry:
        """The configured channels; with none configured, every channel is ``capture`` (sends nothing)."""
        with self.services.reader() as uow:
            configs = uow.guards.channel_configs()
        if not configs:
            return ChannelRegistry.capture_all()
        box: SecretBox | None = None

        def open_secret(sealed: str, context: str) -> dict[str, Any]:
            nonlocal box
            box = box or self.secret_box()
            return box.open(sealed, context)

        return ChannelRegistry.from_configs(configs, open_secret)

    def dispatcher(self, batch_size: int = 1000, on_sent: OnSent | None = None) -> Dispatcher:
        channels = self.channels()
        return Dispatcher(self.services, batch_size, on_sent=on_sent, channels=channels,
                          # no capture_channels: the worker never records a message as sent without its template
                          composer=Composer(self.services, self.settings.public_url, self.token_secret(),
                                            (), channels.provider_templates()),
                          lease=timedelta(seconds=self.settings.send_lease_s))

    def token_secret(self) -> str:
        """Signs tracking and unsubscribe links: derived from the sealing key, so one secret to keep."""
        box_key = self.settings.secret_key
        if box_key is None:
            try:
                self.secret_box()
            except SecretError:
                return "touchflow-development-only"
            database = self.engine.url.database
            box_key = Path(f"{database}.key").read_text(encoding="ascii")
        return hashlib.sha256(f"touchflow-links:{box_key}".encode()).hexdigest()

    def worker(self, batch_size: int = 1000, idle_sleep: float = 0.05) -> Worker:
        return Worker(self.services, batch_size, idle_sleep, dispatcher=self.dispatcher(batch_size))


def bootstrap(settings: Settings | None = None, clock: Clock | None = None) -> Application:
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    services = ServiceContext(
        uow=lambda: SqlUnitOfWork(engine),
        read_uow=lambda: SqlUnitOfWork(engine, read_only=True),
        clock=clock or SystemClock(),
    )
    return Application(settings, engine, services)
