"""A connector is data: which kind of system it reads, how to reach it (settings; secrets sealed apart), what the
rows are (contacts, or events of one type), how their columns map onto Touchflow's fields, which column orders
them (the cursor) and when it runs. Its runs are the record of what each pull did (A6: sync success rate)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from touchflow.domain.connectors.schedule import parse_schedule
from touchflow.domain.connectors.writeback import parse_writeback
from touchflow.domain.errors import FieldError
from touchflow.domain.events import JSONValue

__all__ = [
    "DEFAULT_FAILURE_THRESHOLD",
    "RECORD_KINDS",
    "RUN_STATUSES",
    "Connector",
    "ConnectorRun",
    "ConnectorStatus",
    "RecordKind",
    "RunStatus",
    "consecutive_failures",
    "success_rate",
    "validate_connector",
]

RecordKind = Literal["contacts", "events"]
ConnectorStatus = Literal["active", "paused"]
RunStatus = Literal["running", "succeeded", "failed", "interrupted"]
RECORD_KINDS: tuple[RecordKind, ...] = ("contacts", "events")
RUN_STATUSES: tuple[RunStatus, ...] = ("running", "succeeded", "failed", "interrupted")
DEFAULT_FAILURE_THRESHOLD = 3  # failed runs in a row that open a task and raise the alarm

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_SECRET_WORDS = ("password", "passwd", "secret", "token", "apikey", "api_key")
_EVENT_TYPE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


@dataclass(frozen=True)
class Connector:
    name: str
    kind: str
    settings: Mapping[str, JSONValue]  # non-secret JSON: url without password, table or query, folder …
    record_kind: RecordKind = "contacts"
    event_type: str | None = None  # events only: the type of every row (a mapped "type" column wins)
    mapping: Mapping[str, str] = field(default_factory=dict)  # FIELD -> source column, as ``import --map``
    cursor: str | None = None  # column (or field) that orders the rows; None: every run reads everything
    schedule: str = "manual"  # five-field cron in the workspace zone, "realtime" or "manual"
    status: ConnectorStatus = "active"
    secret: str | None = None  # sealed (SecretBox, context "connector:<name>"): never opened by the domain
    secret_names: tuple[str, ...] = ()  # which credentials the sealed secret holds (shown; values never)
    cursor_value: JSONValue = None  # last committed: where the next run starts
    next_run_at: datetime | None = None
    columns: tuple[str, ...] = ()  # the source's columns as the last run saw them (a new one is a warning)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def scheduled(self) -> bool:
        return parse_schedule(self.schedule) is not None


@dataclass(frozen=True)
class ConnectorRun:
    id: str
    connector: str
    started_at: datetime
    trigger: str = "manual"  # schedule | manual | test | realtime
    actor: str = ""
    status: RunStatus = "running"
    finished_at: datetime | None = None
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    retried: int = 0
    error: str | None = None
    warnings: tuple[str, ...] = ()
    cursor_before: JSONValue = None
    cursor_after: JSONValue = None
    details: Mapping[str, JSONValue] = field(default_factory=dict)  # per kind: files done/failed, reject files

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


def success_rate(runs: Sequence[ConnectorRun]) -> float | None:
    """Share of finished runs that succeeded (A6 KR: data sync success ≥ 95 %); None before the first."""
    finished = [r for r in runs if r.status != "running"]
    return None if not finished else sum(r.ok for r in finished) / len(finished)


def consecutive_failures(runs: Sequence[ConnectorRun]) -> int:
    """Failed (or interrupted) runs since the last success, ``runs`` newest first; running ones are skipped."""
    count = 0
    for run in runs:
        if run.status == "running":
            continue
        if run.ok:
            break
        count += 1
    return count


def _has_control(value: object) -> bool:
    if isinstance(value, str):
        return any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value)
    if isinstance(value, Mapping):
        return any(_has_control(k) or _has_control(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_control(v) for v in value)
    return False


def validate_connector(connector: Connector, *, kinds: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]
                       ) -> None:
    """FieldError naming the field. ``kinds``: kind -> (required settings, secret names) as registered."""
    if not _NAME.fullmatch(connector.name):
        raise FieldError("name", f"{connector.name!r}: lower-case letters, digits, _ and -, starting with a letter")
    if connector.kind not in kinds:
        raise FieldError("kind", f"unknown kind {connector.kind!r} (known: {', '.join(sorted(kinds)) or 'none'})")
    required, secret_names = kinds[connector.kind]
    for key in connector.settings:
        if any(word in key.lower() for word in _SECRET_WORDS):
            raise FieldError(f"settings.{key}", "looks like a credential: pass it in --secret-file, which is sealed")
    for key in required:
        if connector.settings.get(key) in (None, ""):
            raise FieldError(f"settings.{key}", f"required by kind {connector.kind}")
    unknown = [n for n in connector.secret_names if secret_names and n not in secret_names]
    if unknown:
        raise FieldError("secret", f"unknown credential {unknown[0]!r} for kind {connector.kind} "
                                   f"(known: {', '.join(secret_names)})")
    if connector.record_kind not in RECORD_KINDS:
        raise FieldError("record_kind", f"must be contacts or events, got {connector.record_kind!r}")
    if connector.record_kind == "events":
        if connector.event_type is not None and not _EVENT_TYPE.fullmatch(connector.event_type):
            raise FieldError("event_type", f"{connector.event_type!r}: 1-64 letters, digits, _ . : -")
        if connector.event_type is None and "type" not in connector.mapping:
            raise FieldError("event_type", "events need a type: --event-type NAME or --map type=COLUMN")
    elif connector.event_type is not None:
        raise FieldError("event_type", "only for record kind events")
    for target, column in connector.mapping.items():
        if not target.strip() or not str(column).strip():
            raise FieldError("mapping", f"{target}={column}: FIELD=COLUMN, both non-empty")
    if connector.cursor is not None and (not connector.cursor.strip() or _has_control(connector.cursor)):
        raise FieldError("cursor", "name the column (no control characters), or leave it out to read everything")
    for key, value in connector.settings.items():
        if _has_control(key) or _has_control(value):
            raise FieldError(f"settings.{key}", "holds a control character")
    for target, column in connector.mapping.items():
        if _has_control(target) or _has_control(column):
            raise FieldError("mapping", f"{target!r}: holds a control character")
    parse_schedule(connector.schedule)
    parse_writeback(connector.name, connector.settings)  # write-back settings (writeback.py)
    if connector.status not in ("active", "paused"):
        raise FieldError("status", f"must be active or paused, got {connector.status!r}")
