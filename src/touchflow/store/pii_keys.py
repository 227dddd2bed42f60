"""Data keys of personal data and their rotation (ADR 0026).

``PiiKeys`` loads the wrapped data keys of ``data_keys`` into a ``PiiCodec`` (cached per process), makes the
first keys, and rotates the field key online: a new current key first (every row written from then on uses
it), then the identity rows are re-encrypted in short transactions, ordered by their primary key, with the
cursor saved in ``workspace_settings`` after each batch so an interrupted run resumes where it stopped. Rows
still in plaintext (written before encryption was enabled) are encrypted by the same pass. An old key is
retired only when no row uses it; its wrapped key is kept, so a straggler written by a process that had not
yet seen the new key still opens (the next rotation picks it up).
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, or_, select, tuple_, update

from touchflow.security.keystore import KeyRing
from touchflow.security.pii import PiiCodec, PiiError, derive_kek, new_data_key, unwrap_key, wrap_key
from touchflow.store.db import READ_ONLY
from touchflow.store.guards import SqlGuardRepository
from touchflow.store.pii_fields import identity_row_key, open_name, seal_name
from touchflow.store.registry import SqlAuditRepository
from touchflow.store.tables import contact_identities, contacts, data_keys

__all__ = ["CACHE_S", "SETTING", "PiiKeys", "RotationReport"]

# {"plaintext_left": bool, "rotating": bool, "cursor": {"table": "contact_identities" | "contacts", "after": [...]}}
SETTING = "pii_encryption"
IDENTITY_AAD = ("contact_identities", "value")  # the same binding as store.pii_identities
CACHE_S = 30.0  # another process's rotation is seen within this (a ciphertext of an unknown key reloads at once)


@dataclass(frozen=True)
class RotationReport:
    new_key: int | None  # the field key made by this run (None: resumed a rotation already started)
    reencrypted: int  # rows given the current key (or encrypted from plaintext) by this run
    batches: int
    finished: bool  # every row uses the current key; older keys retired
    retired: tuple[int, ...]


def _kek_for(ring: KeyRing, kek_id: str) -> bytes:
    for key in ring.keys:
        if key.id == kek_id:
            return derive_kek(key.key)
    raise PiiError(f"data keys are wrapped by key-ring key {kek_id}, which is not in {ring.source}: restore it "
                   f"(an older key file) before anything personal can be read")


class PiiKeys:
    def __init__(self, engine: Engine, ring: Callable[[], KeyRing]) -> None:
        self._engine = engine
        self._ring = ring
        self._lock = threading.Lock()
        self._cached: tuple[float, PiiCodec | None] | None = None

    # --- the codec every unit of work is given ------------------------------------------------------

    def codec(self) -> PiiCodec | None:
        """None while this database has no data keys (encryption not enabled: plaintext as before)."""
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < CACHE_S:
                return self._cached[1]
        with self._reading() as connection:
            codec = self._load(connection)
        with self._lock:
            self._cached = (time.monotonic(), codec)
        return codec

    def _reading(self) -> Connection:
        """A read-only connection: on SQLite it reads a snapshot beside the writer instead of queueing for the
        write lock (a unit of work holding that lock asks for keys while it runs)."""
        return self._engine.connect().execution_options(**{READ_ONLY: True})

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None

    def _load(self, connection: Connection) -> PiiCodec | None:
        rows = connection.execute(select(data_keys).order_by(data_keys.c.id)).all()
        if not rows:
            return None
        ring = self._ring()
        fields: dict[int, bytes] = {}
        current: int | None = None
        index_key: bytes | None = None
        for r in rows:
            key = unwrap_key(_kek_for(ring, r.kek_id), r.wrapped, r.id, r.purpose)
            if r.purpose == "index":
                index_key = key
            else:
                fields[r.id] = key
                if r.state == "active":
                    current = r.id
        if current is None or index_key is None:
            raise PiiError("data_keys has no active field key or no index key")
        document = SqlGuardRepository(connection, []).setting(SETTING) or {}
        return PiiCodec(fields, current, index_key, plaintext_left=bool(document.get("plaintext_left", True)),
                        fetch=self._fetch)

    def _fetch(self, key_id: int) -> bytes | None:
        with self._reading() as connection:  # called inside a unit of work that may hold SQLite's write lock
            row = connection.execute(select(data_keys).where(data_keys.c.id == key_id,
                                                             data_keys.c.purpose == "field")).first()
        if row is None:
            return None
        self.invalidate()  # a key made elsewhere: the next unit of work encrypts with it
        return unwrap_key(_kek_for(self._ring(), row.kek_id), row.wrapped, row.id, row.purpose)

    # --- status ---------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self._reading() as connection:
            keys = connection.execute(select(data_keys).order_by(data_keys.c.id)).all()
            rows = _rows_by_key(connection)
            document = SqlGuardRepository(connection, []).setting(SETTING) or {}
        return {
            "enabled": bool(keys),
            "keys": [{"id": k.id, "purpose": k.purpose, "state": k.state, "kek": k.kek_id,
                      "created_at": k.created_at.isoformat(),
                      "retired_at": k.retired_at.isoformat() if k.retired_at else None,
                      "rows": rows.get(k.id, 0) if k.purpose == "field" else None} for k in keys],
            "plaintext_rows": rows.get(None, 0),
            "rotating": bool(document.get("rotating", False)),
            "cursor": document.get("cursor"),
        }

    # --- rotation -------------------------------------------------------------------------------------

    def rotate(self, now: Callable[[], datetime], *, actor: str, batch_size: int = 500,
               max_batches: int | None = None, resume_only: bool = False, settle_s: float = 0.0) -> RotationReport:
        """Start a rotation (or resume one left unfinished), then re-encrypt until done or ``max_batches``.

        ``settle_s``: after making a new key, wait that long before the pass, so that other processes (which
        re-read keys every ``CACHE_S``) write with the new key — or, on the first run, stop writing plaintext —
        before rows are counted. The final count catches stragglers either way; waiting makes them rare."""
        new_key = None
        with self._engine.begin() as connection:
            document = SqlGuardRepository(connection, []).setting(SETTING) or {}
            if not document.get("rotating") and not resume_only:
                new_key = self._new_field_key(connection, now(), actor)
        self.invalidate()
        if new_key is not None and settle_s > 0:
            time.sleep(settle_s)
        return self._drain(now, actor, batch_size, max_batches, new_key)

    def rewrap(self, now: datetime, *, actor: str) -> int:
        """Wrap every data key under the current key-ring key (after ``touchflow secret rotate``): the old
        ring key may then retire without taking the data keys with it."""
        ring = self._ring()
        moved = 0
        with self._engine.begin() as connection:
            for r in connection.execute(select(data_keys).where(data_keys.c.kek_id != ring.current.id)).all():
                key = unwrap_key(_kek_for(ring, r.kek_id), r.wrapped, r.id, r.purpose)
                connection.execute(update(data_keys).where(data_keys.c.id == r.id).values(
                    wrapped=wrap_key(derive_kek(ring.current.key), key, r.id, r.purpose), kek_id=ring.current.id))
                moved += 1
            if moved:
                SqlAuditRepository(connection).record(actor, "keys.rewrap", "data_keys",
                                                      {"keys": moved, "kek": ring.current.id}, now)
        self.invalidate()
        return moved

    def _add_key(self, connection: Connection, purpose: str, state: str, at: datetime) -> int:
        ring = self._ring()
        key_id = connection.execute(insert(data_keys).values(
            purpose=purpose, wrapped=b"", kek_id=ring.current.id, state=state, created_at=at)
            .returning(data_keys.c.id)).scalar_one()
        wrapped = wrap_key(derive_kek(ring.current.key), new_data_key(), int(key_id), purpose)
        connection.execute(update(data_keys).where(data_keys.c.id == key_id).values(wrapped=wrapped))
        return int(key_id)

    def _new_field_key(self, connection: Connection, at: datetime, actor: str) -> int:
        first = connection.execute(select(func.count()).select_from(data_keys)).scalar_one() == 0
        if first:
            self._add_key(connection, "index", "active", at)
        connection.execute(update(data_keys).where(data_keys.c.purpose == "field", data_keys.c.state == "active")
                           .values(state="retiring"))
        key_id = self._add_key(connection, "field", "active", at)
        guards = SqlGuardRepository(connection, [])
        document = guards.setting(SETTING) or {"plaintext_left": True}
        guards.set_setting(SETTING, {**document, "rotating": True, "cursor": None}, actor, at)
        SqlAuditRepository(connection).record(actor, "keys.rotate", "data_keys",
                                              {"new_key": key_id, "first": first}, at)
        return key_id

    def _drain(self, now: Callable[[], datetime], actor: str, batch_size: int, max_batches: int | None,
               new_key: int | None) -> RotationReport:
        batches = done = passes = 0
        while max_batches is None or batches < max_batches:
            codec = self.codec()
            if codec is None:
                raise PiiError("personal-data encryption is not enabled: run `touchflow keys rotate` first")
            with self._reading() as reading:
                document = SqlGuardRepository(reading, []).setting(SETTING) or {}
                if not document.get("rotating"):
                    return RotationReport(new_key, done, batches, True, ())
                cursor = document.get("cursor") or {"table": _PHASES[0], "after": None}
                # every row done: count rows per key on a snapshot, outside any write transaction (a full scan)
                clean = _COUNT if cursor["table"] == _COUNT and not _stragglers(reading, codec) else None
            with self._engine.begin() as connection:
                guards = SqlGuardRepository(connection, [])
                if clean is not None:
                    retired = _retire(connection, now())
                    guards.set_setting(SETTING, {"plaintext_left": False, "rotating": False, "cursor": None},
                                       actor, now())
                    SqlAuditRepository(connection).record(actor, "keys.rotated", "data_keys",
                                                          {"current": codec.current, "retired": list(retired),
                                                           "rows": done}, now())
                    break
                if cursor["table"] == _COUNT:  # rows written meanwhile with an old key or in plaintext
                    passes += 1
                    guards.set_setting(SETTING, {**document, "cursor": None}, actor, now())
                    if passes > 3:
                        return RotationReport(new_key, done, batches, False, ())
                    continue
                count, last = _BATCHES[cursor["table"]](connection, codec, cursor["after"], batch_size)
                batches += 1
                done += count
                phase = _PHASES.index(cursor["table"])
                following = ({"table": cursor["table"], "after": list(last)} if last is not None
                             else {"table": _PHASES[phase + 1] if phase + 1 < len(_PHASES) else _COUNT,
                                   "after": None})
                guards.set_setting(SETTING, {**document, "cursor": following}, actor, now())
        else:
            return RotationReport(new_key, done, batches, False, ())
        self.invalidate()
        return RotationReport(new_key, done, batches, True, retired)


def _identities_batch(connection: Connection, codec: PiiCodec, after: list[str] | None,
                      limit: int) -> tuple[int, tuple[str, ...] | None]:
    """Give the next ``limit`` identity rows after ``after`` the current key; (rows changed, last key seen)."""
    t = contact_identities
    query = select(t.c.kind, t.c.value, t.c.value_ct).order_by(t.c.kind, t.c.value).limit(limit)
    if after:
        query = query.where(tuple_(t.c.kind, t.c.value) > tuple_(*after))
    rows = connection.execute(query).all()
    table, column = IDENTITY_AAD
    changed = 0
    for kind, value, blob in rows:
        if blob is None:  # plaintext: the value becomes its blind index, the plaintext its ciphertext
            index = codec.index(kind, value)
            sealed = codec.encrypt(value, table, column, identity_row_key(kind, index))
            changed += connection.execute(update(t).where(t.c.kind == kind, t.c.value == value,
                                                          t.c.value_ct.is_(None))
                                          .values(value=index, value_ct=sealed)).rowcount
        elif codec.key_of(blob) != codec.current:
            row = identity_row_key(kind, value)
            sealed = codec.encrypt(codec.decrypt(blob, table, column, row), table, column, row)
            changed += connection.execute(update(t).where(t.c.kind == kind, t.c.value == value,
                                                          t.c.value_ct == blob)
                                          .values(value_ct=sealed)).rowcount
    return changed, ((rows[-1][0], rows[-1][1]) if len(rows) == limit else None)


def _contacts_batch(connection: Connection, codec: PiiCodec, after: list[str] | None,
                    limit: int) -> tuple[int, tuple[str, ...] | None]:
    """The same for names: plaintext names are encrypted, names under an older key re-encrypted."""
    c = contacts.c
    query = (select(c.id, c.name, c.name_ct).where(or_(c.name.is_not(None), c.name_ct.is_not(None)))
             .order_by(c.id).limit(limit))
    if after:
        query = query.where(c.id > after[0])
    rows = connection.execute(query).all()
    changed = 0
    for contact_id, name, blob in rows:
        if blob is None:  # the optimistic WHERE skips a row an import changed meanwhile (it wrote the new form)
            changed += connection.execute(update(contacts).where(c.id == contact_id, c.name == name,
                                                                 c.name_ct.is_(None))
                                          .values(name=None, name_ct=seal_name(codec, contact_id, name)[1])).rowcount
        elif codec.key_of(blob) != codec.current:
            sealed = seal_name(codec, contact_id, open_name(codec, contact_id, None, blob))[1]
            changed += connection.execute(update(contacts).where(c.id == contact_id, c.name_ct == blob)
                                          .values(name_ct=sealed)).rowcount
    return changed, ((rows[-1][0],) if len(rows) == limit else None)


_BatchFn = Callable[[Connection, PiiCodec, "list[str] | None", int], "tuple[int, tuple[str, ...] | None]"]
_BATCHES: dict[str, _BatchFn] = {"contact_identities": _identities_batch, "contacts": _contacts_batch}
_PHASES = tuple(_BATCHES)
_COUNT = "count"  # the cursor after the last phase: count rows per key, then retire


def _rows_by_key(connection: Connection) -> dict[int | None, int]:
    """How many rows (identities and names) each field key encrypted; None: rows still in plaintext."""
    counts: dict[int | None, int] = {}
    t, c = contact_identities.c, contacts.c
    for column, where in ((t.value_ct, None), (c.name_ct, or_(c.name.is_not(None), c.name_ct.is_not(None)))):
        head = func.substr(column, 1, 5)
        query = select(head, func.count()).group_by(head)
        for prefix, n in connection.execute(query if where is None else query.where(where)):
            key = None if prefix is None else struct.unpack(">BI", bytes(prefix))[1]
            counts[key] = counts.get(key, 0) + int(n)
    return counts


def _stragglers(connection: Connection, codec: PiiCodec) -> bool:
    """True when a row still uses an older key or plaintext."""
    return any(k != codec.current and n for k, n in _rows_by_key(connection).items())


def _retire(connection: Connection, at: datetime) -> tuple[int, ...]:
    """Retire the older field keys (kept, wrapped: a straggler written since still opens)."""
    old = connection.execute(select(data_keys.c.id).where(
        data_keys.c.purpose == "field", data_keys.c.state == "retiring")).scalars().all()
    if old:
        connection.execute(update(data_keys).where(data_keys.c.id.in_(old)).values(state="retired", retired_at=at))
    return tuple(int(k) for k in old)
