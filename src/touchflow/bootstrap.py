"""The one composition root: settings in, a wired application out. Nothing happens at import."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from touchflow.clock import Clock, SystemClock
from touchflow.config import Settings
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.engine.compose import Composer
from touchflow.engine.connectors.schedule_pass import ConnectorPass
from touchflow.engine.connectors.writeback_sender import WritebackPass
from touchflow.engine.dispatcher import Dispatcher, OnSent
from touchflow.engine.report_pass import AlertNotifyPass, ReportPass, channel_sender
from touchflow.engine.worker import Worker
from touchflow.security.audit_anchors import anchor_file_beside
from touchflow.security.crypto import SecretBox
from touchflow.security.keystore import DatabaseIdentity, KeyRing, KeySource, key_source, link_secret
from touchflow.services.audit import anchor_chain
from touchflow.services.capacity import report_load
from touchflow.services.context import ServiceContext
from touchflow.services.duplicate_index import DuplicateSweeper
from touchflow.services.retention import RetentionPass
from touchflow.services.secrets import Rotation, reseal_after_rotation
from touchflow.services.segments import refresh_scheduled
from touchflow.services.table_upkeep import TableUpkeepPass
from touchflow.store import schema
from touchflow.store.channel_limits import shared_limits
from touchflow.store.db import held_on_this_thread, make_engine
from touchflow.store.pii_keys import PiiKeys
from touchflow.store.table_upkeep import upkeep_tables
from touchflow.store.uow import SqlUnitOfWork

__all__ = ["Application", "bootstrap", "open_sandbox"]


@dataclass
class Application:
    settings: Settings
    engine: Engine
    services: ServiceContext
    pii_keys: PiiKeys
    _ring: tuple[object, KeyRing] | None = field(default=None, init=False, repr=False)

    def init_database(self) -> str | None:
        """Create or upgrade the schema (idempotent); returns the revision."""
        revision = schema.upgrade(self.engine)
        from touchflow.services.setup import seed_defaults

        seed_defaults(self.services)
        return revision

    def close(self) -> None:
        self.engine.dispose()

    def open_sandbox(self, path: Path, clock: Clock, batch_size: int = 1000) -> Application:
        """A sandbox store (``engine.simulator.OpenStore``), handed to the API for the builder's dry run."""
        return open_sandbox(path, clock, batch_size)

    def key_source(self) -> KeySource:
        """Where this database's secret key ring lives (``security.keystore``: env, key file, config dir)."""
        url = self.engine.url
        return key_source(DatabaseIdentity(url.get_backend_name(), url.host, url.port, url.database),
                          env_key=self.settings.secret_key, key_file=self.settings.secret_key_file,
                          config_dir=self.settings.config_dir)

    def key_ring(self) -> KeyRing:
        """The key ring, re-read when its file changes (a rotation in another process); ``NoSecretKey``
        when there is none — nothing makes one implicitly, ``touchflow init`` does."""
        source = self.key_source()
        stamp = source.stamp()
        if stamp is not None and self._ring is not None and self._ring[0] == stamp:
            return self._ring[1]
        ring = source.load()
        self._ring = (stamp, ring)
        return ring

    def create_secret_key(self) -> tuple[str, bool]:
        """(where the key is, whether it was made now): what ``touchflow init`` calls."""
        source = self.key_source()
        return source.describe(), source.create(self.services.clock.now())

    def secret_box(self) -> SecretBox:
        """Seals with the current key, opens with any key of the ring still in its grace period."""
        return self.key_ring().box(self.services.clock.now())

    def token_secret(self) -> str:
        """Signs tracking and unsubscribe links: derived from the current sealing key, so one secret to keep."""
        return link_secret(self.key_ring().current.key)

    def link_secrets(self, now: datetime) -> tuple[str, ...]:
        """Every secret a link may be signed with at ``now``, the current one first."""
        return self.key_ring().link_secrets(now)

    def rotate_secret_key(self, grace: timedelta, *, actor: str) -> Rotation:
        """A new current key; older keys stay usable for ``grace``; channel credentials are re-sealed."""
        now = self.services.clock.now()
        source = self.key_source()
        before = source.load()
        after = before.rotated(now, grace)
        source.write(after)
        self._ring = None
        self.pii_keys.rewrap(now, actor=actor)  # data keys move to the new ring key before the old one retires
        return reseal_after_rotation(self.services, before.box(now), after.box(now), actor=actor,
                                     new_key=after.current.id, grace=grace, source=source.describe(),
                                     retiring={k.id: k.retires_at for k in after.keys[1:]})

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

        # every worker shares each channel's rate and concurrency through the database (ADR 0047)
        return ChannelRegistry.from_configs(configs, open_secret, shared_limits(self.engine))

    def dispatcher(self, batch_size: int = 1000, on_sent: OnSent | None = None) -> Dispatcher:
        channels = self.channels()
        return Dispatcher(self.services, batch_size, on_sent=on_sent, channels=channels,
                          # no capture_channels: the worker never records a message as sent without its template
                          composer=Composer(self.services, self.settings.public_url, self.token_secret(),
                                            (), channels.provider_templates()),
                          lease=timedelta(seconds=self.settings.send_lease_s))

    def encrypt_new_database(self, actor: str) -> bool:
        """A database that holds no contact yet starts with personal data encrypted (ADR 0026); one that already
        holds contacts is switched by an operator with `touchflow keys rotate` (an online pass). True when on."""
        if self.pii_keys.status()["enabled"]:
            return True
        with self.services.reader() as uow:
            if uow.contacts.count() > 0:
                return False
        self.pii_keys.rotate(self.services.clock.now, actor=actor, settle_s=0)
        return True

    def audit_anchor_file(self) -> Path | None:
        """Where the audit chain's anchors go: TOUCHFLOW_AUDIT_ANCHOR_FILE, else beside the key file."""
        if self.settings.audit_anchor_file:
            return Path(self.settings.audit_anchor_file).expanduser()
        return anchor_file_beside(self.key_source().path)

    def upload_directory(self) -> Path | None:
        """Where console uploads wait between upload and run: ``uploads`` in the data directory — beside the
        database's key file (the SQLite file's folder, or the config directory) — or None when there is none."""
        path = self.key_source().path
        return None if path is None else path.parent / "uploads"

    def worker(self, batch_size: int = 1000, idle_sleep: float = 0.05, background: bool = True) -> Worker:
        """The worker of ``touchflow worker``; without ``background`` its slow passes (table upkeep, the segments'
        scheduled recomputes) are left to a ``--background only`` process (ADR 0070)."""
        path = self.audit_anchor_file()
        daily = None if path is None else partial(anchor_chain, self.services, path, once_a_day=True)
        dispatcher = self.dispatcher(batch_size)
        # scheduled reports go out through the dispatcher's channels (their email channel)
        reports = ReportPass(self.services, channel_sender(dispatcher.channels))
        notices = AlertNotifyPass(self.services, lambda channel: channel_sender(dispatcher.channels, channel))
        connectors = ConnectorPass(self.services, lambda sealed, context: self.secret_box().open(sealed, context))
        writeback = WritebackPass(self.services, lambda sealed, context: self.secret_box().open(sealed, context))
        started = self.services.clock.now()
        worker_id = f"{socket.gethostname()}:{os.getpid()}:{int(started.timestamp())}"[:80]
        report = partial(report_load, self.services, worker_id, socket.gethostname(), os.getpid(), started)
        passes: list[Callable[[], int]] = [reports, notices, connectors, writeback, RetentionPass(self.services),
                                           DuplicateSweeper(self.services)]
        # vacuum, analyze and the segments' scheduled recomputes take as long as the data is big: a thread of
        # their own, not the tick (ADR 0066)
        slow: list[Callable[[], object]] = [TableUpkeepPass(self.services, partial(upkeep_tables, self.engine)),
                                            partial(refresh_scheduled, self.services)]
        return Worker(self.services, batch_size, idle_sleep, dispatcher=dispatcher, passes=passes, daily=daily,
                      background=slow if background else [], scheduled_refresh=False, report_load=report)


def bootstrap(settings: Settings | None = None, clock: Clock | None = None) -> Application:
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    ring: list[Application] = []  # the key ring is the application's (re-read when its file changes)
    pii_keys = PiiKeys(engine, lambda: ring[0].key_ring())
    services = ServiceContext(
        uow=lambda: SqlUnitOfWork(engine, pii=pii_keys.codec),
        read_uow=lambda: SqlUnitOfWork(engine, read_only=True, pii=pii_keys.codec),
        clock=clock or SystemClock(),
        single_writer=engine.dialect.name == "sqlite",
        write_lock_seconds=held_on_this_thread if engine.dialect.name == "sqlite" else None,
    )
    application = Application(settings, engine, services, pii_keys)
    services.secret_box = application.secret_box
    ring.append(application)
    return application


def open_sandbox(path: Path, clock: Clock, batch_size: int = 1000) -> Application:
    """The sandbox's own store: a new SQLite file on a virtual clock (``engine.simulator`` takes this)."""
    application = bootstrap(Settings(f"sqlite:///{path.as_posix()}", batch_size=batch_size), clock=clock)
    application.services.single_writer = False  # nobody else writes there: no gaps to leave
    return application
