"""Crash safety and concurrency of the durable runtime, with real ``touchflow worker`` processes.

* SIGKILL a worker at (seeded) random moments while 2,000 contacts run a 3-step journey with waits,
  restart it each time; in the end every contact has completed every step exactly once: one run,
  one outbox row per send node, the trace shows each node once, nothing left in the inbox.
* Two workers at once on PostgreSQL over the same runs: no step runs twice, none is skipped.
* Two workers ticking at the same moment on PostgreSQL with a scheduled journey (a scan trigger):
  each contact should enter once: a due scan is claimed by one worker (compare-and-set on next_scan_at).

Workers read the system clock, so the journey's waits are two seconds long in real time. Every
contact also sends a second ``signup`` later on (``max_entries: 1``): a second run would mean two
workers, or a restarted one, entered the same contact twice.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import Engine, func, select

from touchflow.bootstrap import Application, bootstrap
from touchflow.clock import VirtualClock
from touchflow.config import Settings
from touchflow.engine.dispatcher import lifecycle_event_id
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.content import save_template
from touchflow.services.guarding import set_guardrail_policy
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import publish_journey
from touchflow.store.tables import contact_identities, event_inbox, events, journey_runs, outbox, run_steps

CONTACTS = 2_000
CHUNK = 250  # contacts per ingest call
WAIT_S = 2
BATCH = 200  # the workers' batch size: small, so a kill lands between many commits
READY_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 150.0  # a liveness bound, not a speed aim: alone ~19 s; 45 s was missed in full runs on a slow host

JOURNEY = f"""
key: reliability_three_steps
name: Reliability, three sends with waits
trigger:
  event: signup
entry:
  max_entries: 1
nodes:
  send_email: {{kind: send, channel: email, template: rel_email, next: wait_1}}
  wait_1: {{kind: wait, duration: {WAIT_S}s, next: send_sms}}
  send_sms: {{kind: send, channel: sms, template: rel_sms, next: wait_2}}
  wait_2: {{kind: wait, duration: {WAIT_S}s, next: send_wecom}}
  send_wecom: {{kind: send, channel: wecom, template: rel_wecom, next: done}}
  done: {{kind: exit}}
"""
SENDS = {"send_email": "email", "send_sms": "sms", "send_wecom": "wecom"}
EXPECTED_TRACE = [
    ("send_email", "entry", "entered"),
    ("send_email", "send", "next"),
    ("wait_1", "wait", None),
    ("wait_1", "wait", "next"),
    ("send_sms", "send", "next"),
    ("wait_2", "wait", None),
    ("wait_2", "wait", "next"),
    ("send_wecom", "send", "next"),
    ("done", "exit", "completed"),
]


class WorkerProcess:
    """One ``touchflow worker`` subprocess, its output in a log file."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        env = {**os.environ, "TOUCHFLOW_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1", "COLUMNS": "200",
               "TOUCHFLOW_SEND_LEASE_S": "2"}  # a killed worker's sends are claimed again after 2 s
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "touchflow", "worker", "--idle-sleep", "0.01", "--batch-size", str(BATCH)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "worker running on" not in self.output():
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker not ready after {READY_TIMEOUT_S} s:\n{self.output()[-3000:]}")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no signal handler, no rollback in Python, no cleanup at all."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()

    def stop(self) -> int:
        """SIGTERM: the worker finishes its batch and exits; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        self._log.close()
        return code


@pytest.fixture
def system_app(database_url: str) -> Iterator[Application]:
    """The application on the test database with the system clock (the workers' clock)."""
    application = bootstrap(Settings(database_url, config_dir=os.environ["TOUCHFLOW_CONFIG_DIR"]))
    application.init_database()
    application.create_secret_key()  # what `touchflow init` does: the workers refuse to start without a key
    # Real time drives these workers: without this, SMS and WeCom would wait for the morning at night.
    set_guardrail_policy(application.services, {"quiet_hours": {"channels": []}}, actor="test")
    for name, channel in (("rel_email", "email"), ("rel_sms", "sms"), ("rel_wecom", "wecom")):
        # the worker sends nothing without its template (a missing one is a dead letter)
        save_template(application.services, name, channel, "可靠性", "{{ contact.email }}，您好。", "text", by="test")
    publish_journey(application.services, JOURNEY, actor="test", templates_required=True)
    yield application
    application.close()


def signups(app: Application, first: int, count: int, attempt: int = 1) -> None:
    """``count`` sign-ups from contacts ``first``…; ``attempt`` 2 is each contact's second sign-up."""
    record_events(app.services, "website", [RawItem({
        "id": f"signup-{n}-{attempt}", "type": "signup", "email": f"u{n}@reliability.test",
        "phone": f"+86138{n:08d}", "wecom": f"wm-rel-{n}",  # an address on every channel the journey uses
        "properties": {"method": "email"}}) for n in range(first, first + count)])


def progress(engine: Engine) -> dict[str, int]:
    with engine.connect() as c:
        runs: dict[str, int] = {str(status): int(n) for status, n in c.execute(
            select(journey_runs.c.status, func.count()).group_by(journey_runs.c.status))}
        inbox = c.execute(select(func.count()).select_from(event_inbox)).scalar_one()
        queued = c.execute(select(func.count()).select_from(outbox).where(outbox.c.status == "queued")).scalar_one()
    state = {f"runs_{status}": n for status, n in runs.items()}
    state["runs"] = sum(runs.values())
    state["inbox"], state["queued"] = int(inbox), int(queued)
    return state


def wait_until_drained(engine: Engine, workers: list[WorkerProcess], timeout: float = DRAIN_TIMEOUT_S) -> None:
    """Until every contact's run has ended and nothing is left in the inbox or the outbox queue."""
    deadline = time.monotonic() + timeout
    state: dict[str, int] = {}
    while time.monotonic() < deadline:
        state = progress(engine)
        live = state.get("runs_active", 0) + state.get("runs_waiting", 0)
        if state["runs"] >= CONTACTS and live == 0 and state["inbox"] == 0 and state["queued"] == 0:
            return
        for w in workers:
            if w.proc.poll() is not None:
                raise AssertionError(f"worker died ({w.proc.returncode}):\n{w.output()[-3000:]}")
        time.sleep(0.2)
    logs = "\n".join(w.output()[-2000:] for w in workers)
    raise AssertionError(f"not drained after {timeout} s: {state}\n{logs}")


def assert_every_step_exactly_once(engine: Engine) -> None:
    with engine.connect() as c:
        contact_of = {v: cid for v, cid in c.execute(
            select(contact_identities.c.value, contact_identities.c.contact_id)
            .where(contact_identities.c.kind == "email", contact_identities.c.value.like("%@reliability.test")))}
        runs = c.execute(select(journey_runs.c.id, journey_runs.c.contact_id, journey_runs.c.status)).all()
        messages = c.execute(select(outbox.c.id, outbox.c.idempotency_key, outbox.c.run_id, outbox.c.contact_id,
                                    outbox.c.node_id, outbox.c.channel, outbox.c.status)).all()
        steps = c.execute(select(run_steps.c.run_id, run_steps.c.node_id, run_steps.c.kind, run_steps.c.edge)
                          .order_by(run_steps.c.id)).all()
        sent_events = {r[0] for r in c.execute(select(events.c.id).where(events.c.type == "message_sent"))}
        inbox = c.execute(select(func.count()).select_from(event_inbox)).scalar_one()

    assert len(contact_of) == CONTACTS
    contacts = set(contact_of.values())
    assert len(contacts) == CONTACTS

    # one run per contact (the second sign-up never entered it again), and it completed
    runs_per_contact = Counter(r.contact_id for r in runs)
    assert set(runs_per_contact) == contacts
    assert [cid for cid, n in runs_per_contact.items() if n != 1] == []
    assert Counter(r.status for r in runs) == {"completed": CONTACTS}

    # exactly one outbox row per (run, send node): three per contact, none twice, none missing
    keys = Counter(m.idempotency_key for m in messages)
    assert [k for k, n in keys.items() if n > 1] == []
    per_run_node = Counter((m.run_id, m.node_id) for m in messages)
    assert [k for k, n in per_run_node.items() if n > 1] == []
    by_contact: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for m in messages:
        by_contact[m.contact_id].append((m.node_id, m.channel))
    assert set(by_contact) == contacts
    wrong = {cid: sorted(got) for cid, got in by_contact.items() if sorted(got) != sorted(SENDS.items())}
    assert wrong == {}, f"{len(wrong)} contacts with the wrong messages, e.g. {list(wrong.items())[:3]}"
    assert len(messages) == 3 * CONTACTS
    assert Counter(m.status for m in messages) == {"sent": 3 * CONTACTS}
    # every message sent once: one message_sent event each, all routed
    assert {lifecycle_event_id(m.id, "sent") for m in messages} == sent_events
    assert inbox == 0

    # the trace: every node exactly once per run, in order
    traces: dict[str, list[tuple[str, str, Any]]] = defaultdict(list)
    for s in steps:
        traces[s.run_id].append((s.node_id, s.kind, s.edge))
    assert set(traces) == {r.id for r in runs}
    bad = {run_id: trace for run_id, trace in traces.items() if trace != EXPECTED_TRACE}
    assert bad == {}, f"{len(bad)} runs with a wrong trace, e.g. {list(bad.items())[:2]}"


def test_sigkill_at_random_moments_loses_and_repeats_nothing(system_app: Application, tmp_path: Path) -> None:
    rnd = random.Random(20260302)
    engine = system_app.engine
    url = system_app.settings.database_url
    chunks = list(range(0, CONTACTS, CHUNK))  # 8 chunks of 250 contacts
    kills = 0
    signups(system_app, 0, CHUNK)
    for round_no, first in enumerate(chunks):
        worker = WorkerProcess(url, tmp_path / f"worker-{round_no}.log")
        worker.wait_ready()
        # work arrives while the worker runs: the next chunk, and a second sign-up of the previous one
        if first + CHUNK < CONTACTS:
            signups(system_app, first + CHUNK, CHUNK)
        signups(system_app, first, CHUNK, attempt=2)
        time.sleep(rnd.uniform(0.05, 1.5))
        if worker.proc.poll() is not None:
            raise AssertionError(f"worker exited early:\n{worker.output()[-3000:]}")
        worker.kill()
        kills += 1
    assert kills == len(chunks)
    before_last = progress(engine)
    assert before_last["runs"] > 0, "the workers did nothing before being killed"

    last = WorkerProcess(url, tmp_path / "worker-last.log")
    try:
        last.wait_ready()
        wait_until_drained(engine, [last])
    finally:
        code = last.stop()
    assert code == 0, last.output()[-3000:]
    assert_every_step_exactly_once(engine)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_on_postgresql_run_each_step_once(system_app: Application, tmp_path: Path) -> None:
    engine = system_app.engine
    url = system_app.settings.database_url
    half = CONTACTS // 2
    for first in range(0, half, CHUNK):
        signups(system_app, first, CHUNK)
    workers = [WorkerProcess(url, tmp_path / f"worker-{n}.log") for n in range(2)]
    try:
        for w in workers:
            w.wait_ready()
        # the rest arrives while both run; each contact signs up twice, the repeat in a later batch
        for first in range(half, CONTACTS, CHUNK):
            signups(system_app, first, CHUNK)
            signups(system_app, first - half, CHUNK, attempt=2)
            time.sleep(0.2)
        for first in range(half, CONTACTS, CHUNK):
            signups(system_app, first, CHUNK, attempt=2)
        wait_until_drained(engine, workers)
    finally:
        codes = [w.stop() for w in workers]
    assert codes == [0, 0], "\n".join(w.output()[-3000:] for w in workers)
    assert_every_step_exactly_once(engine)


SCHEDULED = """
key: reliability_daily
name: Reliability, a scheduled journey
trigger: {schedule: {every: 1d}}
nodes:
  send: {kind: send, channel: email, template: rel_daily, next: done}
  done: {kind: exit}
"""


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_workers_on_postgresql_scan_a_schedule_once(database_url: str, clock: VirtualClock) -> None:
    apps = [bootstrap(Settings(database_url), clock=clock) for _ in range(3)]
    try:
        apps[0].init_database()
        publish_journey(apps[0].services, SCHEDULED, actor="test")
        for first in range(0, 1000, 500):
            upsert_contacts(apps[0].services, "crm", [RawItem({"email": f"s{n}@reliability.test"})
                                                      for n in range(first, first + 500)])
        runtimes = [JourneyRuntime(a.services, 200) for a in apps[1:]]
        barrier = threading.Barrier(len(runtimes))
        errors: list[BaseException] = []

        def tick(runtime: JourneyRuntime) -> None:
            barrier.wait()
            try:
                runtime.tick()
            except Exception as exc:  # a clash is a failure too
                errors.append(exc)

        threads = [threading.Thread(target=tick, args=(r,)) for r in runtimes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        with apps[0].engine.connect() as c:
            per_contact = Counter(r[0] for r in c.execute(select(journey_runs.c.contact_id)))
        assert errors == []
        assert len(per_contact) == 1000
        assert [cid for cid, n in per_contact.items() if n > 1] == []
    finally:
        for a in apps:
            a.close()
