"""A channel's provider rate and concurrency hold across dispatcher processes (ADR 0047).

Three real dispatcher processes drain one outbox through a local fake SMS provider that records when each
request arrived; together they keep the channel's configured rate. SQLite and PostgreSQL (``app`` fixture).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from tests.fakes.fixtures import fake_providers  # noqa: F401  (a fixture, used by name)
from tests.fakes.providers import FakeProviders
from tests.integration.test_dispatcher import enqueue, make_contacts
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.services.channels import save_channel
from touchflow.store.channel_limits import SharedRateLimiter, SharedSlots
from touchflow.store.tables import outbox

ROOT = Path(__file__).resolve().parents[2]
RATE, BURST, MESSAGES, PROCESSES = 20.0, 20.0, 90, 3


def test_three_dispatcher_processes_keep_one_channel_rate(app: Application, clock: VirtualClock,
                                                          fake_providers: FakeProviders) -> None:  # noqa: F811
    fake = fake_providers
    contacts = make_contacts(app, MESSAGES)
    enqueue(app, [(cid, "sms", {}) for cid in contacts])
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    args = [str(app.engine.url.render_as_string(hide_password=False)), f"{fake.url}/sms", str(RATE), "2",
            clock.now().isoformat()]
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-m", "tests.integration.dispatch_process", *args], cwd=ROOT,
                              env=env, stderr=subprocess.PIPE, text=True) for _ in range(PROCESSES)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    print(f"processes took {time.monotonic() - started:.1f}s")
    arrivals = sorted(t for t, path, _ in fake.arrivals if path.startswith("/sms"))
    with app.engine.connect() as c:
        statuses = list(c.execute(select(outbox.c.status)).scalars())
    assert statuses.count("sent") == MESSAGES  # every message went out once
    assert len(arrivals) == MESSAGES  # one recipient per call (max_batch=1)
    # After the bucket's first burst, the three processes together send at no more than the channel's rate:
    # three process-local buckets would send 3 bursts at once and then 3 × the rate.
    span = arrivals[-1] - arrivals[0]
    assert (MESSAGES - BURST) / span <= RATE * 1.15, f"{MESSAGES} sends in {span:.2f}s"
    # and in no one-second window more than the rate plus the burst
    worst = max(sum(1 for t in arrivals if start <= t < start + 1.0) for start in arrivals)
    assert worst <= RATE + BURST + 2


def test_bucket_is_shared_between_limiters_and_refills_at_the_rate(app: Application) -> None:
    slept: list[float] = []
    one = SharedRateLimiter(app.engine, "sms", 10.0, sleep=slept.append)
    other = SharedRateLimiter(app.engine, "sms", 10.0, sleep=slept.append)  # another process's view
    assert one.reserve(10) == 0.0  # the burst
    wait = other.reserve(5)  # the bucket is empty for every taker: 5 tokens at 10/s (less what refilled meanwhile)
    assert 0.0 < wait <= 0.5
    assert other.reserve(5) > wait + 0.3  # queued behind the first reservation (0.5 s later), not beside it
    assert SharedRateLimiter(app.engine, "email", 10.0).reserve(10) == 0.0  # each channel its own bucket
    assert SharedRateLimiter(app.engine, "sms", None).take(1000) == 0.0  # no rate: no limit


def test_concurrency_slots_are_shared_and_a_dead_holders_lease_runs_out(app: Application) -> None:
    first = SharedSlots(app.engine, "sms", 1, lease_s=0.3)
    second = SharedSlots(app.engine, "sms", 1, lease_s=0.3)  # another process's view of the same channel
    lease = first.acquire()
    assert second.try_acquire() is None  # the only slot is held elsewhere
    first.release(lease)
    taken = second.try_acquire()
    assert taken is not None
    # its holder "dies" without releasing: once the lease has run out the slot is free again
    time.sleep(0.35)
    again = first.try_acquire()
    assert again is not None and again[0] == taken[0]
    first.release(again)
    with SharedSlots(app.engine, "sms", 2) as held:  # two slots: one more holder fits beside this one
        assert SharedSlots(app.engine, "sms", 2).try_acquire() is not None
        assert held.concurrency == 2


def test_configured_channels_use_the_shared_limits(app: Application) -> None:
    save_channel(app.services, "sms", "capture", {}, None, 5.0, 3, True, actor="test")
    registry: ChannelRegistry = app.channels()
    configured = registry.get("sms")
    assert configured is not None
    assert isinstance(configured.limiter, SharedRateLimiter) and configured.limiter.per_second == 5.0
    assert isinstance(configured.slots, SharedSlots) and configured.slots.concurrency == 3
    registry.close()
