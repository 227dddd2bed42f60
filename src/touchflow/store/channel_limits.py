"""Channel rate limits and concurrency shared by every dispatcher process through the database (ADR 0047).

A process-local token bucket lets N workers send N times a provider's limit. Here the bucket is one row per
channel (``channel_buckets``): a send takes its tokens in a short transaction that locks the row (PostgreSQL
``SELECT … FOR UPDATE``; SQLite's write lock, one machine), refills it from the database's clock, subtracts, and
learns how long to wait. The balance may go below zero: each taker is promised the next free moment, so
concurrent takers queue behind one another instead of all retrying. Time comes from the database
(``clock_timestamp()`` on PostgreSQL), so machines whose clocks disagree still share one bucket.

Concurrency is leased slots (``channel_slots``): a send holds a slot row for its call and frees it after; a
process that dies holding one loses it when the lease runs out.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from types import TracebackType

from sqlalchemy import Connection, Engine, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from touchflow.store.tables import channel_buckets, channel_slots

__all__ = ["SharedRateLimiter", "SharedSlots", "shared_limits"]

_SLOT_POLL_S = 0.02
_SLOT_POLL_MAX_S = 0.25


def _db_now(connection: Connection) -> float:
    if connection.dialect.name == "postgresql":
        return float(connection.execute(select(func.extract("epoch", func.clock_timestamp()))).scalar_one())
    return time.time()  # SQLite: one machine, one clock


class SharedRateLimiter:
    """``take(n)`` reserves ``n`` sends in the channel's shared bucket and sleeps until they fit the rate."""

    def __init__(self, engine: Engine, channel: str, per_second: float | None, burst: float | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.engine = engine
        self.channel = channel
        self.per_second = per_second
        self.capacity = burst if burst is not None else max(per_second or 0.0, 1.0)
        self._sleep = sleep

    def reserve(self, n: int) -> float:
        """Take ``n`` tokens now; return the seconds to wait before sending them (0 when they were there)."""
        rate = self.per_second
        if not rate:
            return 0.0
        with self.engine.begin() as c:
            now = _db_now(c)
            row = c.execute(select(channel_buckets.c.tokens, channel_buckets.c.refilled_at)
                            .where(channel_buckets.c.channel == self.channel).with_for_update()).first()
            if row is None:
                try:
                    with c.begin_nested():
                        c.execute(insert(channel_buckets).values(channel=self.channel, tokens=self.capacity - n,
                                                                 refilled_at=now))
                    return max(0.0, -(self.capacity - n) / rate)
                except IntegrityError:  # another process made the row first: take from it
                    row = c.execute(select(channel_buckets.c.tokens, channel_buckets.c.refilled_at)
                                    .where(channel_buckets.c.channel == self.channel).with_for_update()).one()
            tokens = min(self.capacity, float(row.tokens) + max(0.0, now - float(row.refilled_at)) * rate) - n
            c.execute(update(channel_buckets).where(channel_buckets.c.channel == self.channel)
                      .values(tokens=tokens, refilled_at=max(now, float(row.refilled_at))))
        return max(0.0, -tokens / rate)

    def take(self, n: int) -> float:
        """Block until ``n`` sends fit the shared rate; return the seconds waited."""
        wait = self.reserve(n)
        if wait:
            self._sleep(wait)
        return wait


class SharedSlots:
    """A channel's concurrency across processes: ``with slots:`` holds one of ``concurrency`` leased slots."""

    def __init__(self, engine: Engine, channel: str, concurrency: int, lease_s: float = 300.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.engine = engine
        self.channel = channel
        self.concurrency = max(1, concurrency)
        self.lease_s = lease_s
        self._sleep = sleep
        self._held = threading.local()
        self._prefix = f"{os.getpid()}:{secrets.token_hex(4)}"
        self._rows_made = False

    def _ensure_rows(self) -> None:
        with self.engine.begin() as c:
            have = set(c.execute(select(channel_slots.c.slot).where(channel_slots.c.channel == self.channel))
                       .scalars())
            for slot in range(self.concurrency):
                if slot not in have:
                    try:
                        with c.begin_nested():
                            c.execute(insert(channel_slots).values(channel=self.channel, slot=slot, holder=None,
                                                                   lease_until=0.0))
                    except IntegrityError:
                        pass

    def try_acquire(self) -> tuple[int, str] | None:
        """One free slot leased to this caller, or None when all ``concurrency`` are held."""
        if not self._rows_made:  # a raised concurrency adds slot rows; the first call of each process makes them
            self._ensure_rows()
            self._rows_made = True
        holder = f"{self._prefix}:{threading.get_ident()}"
        with self.engine.begin() as c:
            now = _db_now(c)
            t = channel_slots.c
            slot = c.execute(select(t.slot).where(and_(t.channel == self.channel, t.slot < self.concurrency,
                                                       or_(t.holder.is_(None), t.lease_until < now)))
                             .order_by(t.slot).limit(1).with_for_update(skip_locked=True)).scalar()
            if slot is None:
                return None
            c.execute(update(channel_slots).where(and_(t.channel == self.channel, t.slot == slot))
                      .values(holder=holder, lease_until=now + self.lease_s))
        return int(slot), holder

    def acquire(self) -> tuple[int, str]:
        wait = _SLOT_POLL_S
        lease = self.try_acquire()
        while lease is None:
            self._sleep(wait)
            wait = min(_SLOT_POLL_MAX_S, wait * 2)
            lease = self.try_acquire()
        return lease

    def release(self, lease: tuple[int, str]) -> None:
        slot, holder = lease
        t = channel_slots.c
        with self.engine.begin() as c:
            c.execute(update(channel_slots).where(and_(t.channel == self.channel, t.slot == slot, t.holder == holder))
                      .values(holder=None, lease_until=0.0))

    def __enter__(self) -> SharedSlots:
        stack: list[tuple[int, str]] = getattr(self._held, "stack", [])
        stack.append(self.acquire())
        self._held.stack = stack
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release(self._held.stack.pop())


def shared_limits(engine: Engine) -> Callable[[str, float | None, int], tuple[SharedRateLimiter, SharedSlots]]:
    """The factory ``ChannelRegistry.from_configs`` takes: each configured channel's bucket and slots shared."""
    def make(name: str, rate_per_s: float | None, concurrency: int) -> tuple[SharedRateLimiter, SharedSlots]:
        return SharedRateLimiter(engine, name, rate_per_s), SharedSlots(engine, name, concurrency)
    return make
