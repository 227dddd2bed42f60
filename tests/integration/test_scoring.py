"""Lead scoring on SQLite and PostgreSQL: MQL once, versioned deterministic rescoring, calibration proposals, and the
batch path (times in SQL, one pass per chunk, set-based writes) giving the reference scorer's scores on random data."""

from __future__ import annotations

import multiprocessing
import random
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select

from touchflow.bootstrap import Application, bootstrap
from touchflow.clock import VirtualClock
from touchflow.config import Settings
from touchflow.domain.conditions.predicates import ContactFacts, EventFact
from touchflow.domain.contacts import STANDARD_FIELDS
from touchflow.domain.errors import PathError
from touchflow.domain.scoring.batch import micros
from touchflow.domain.scoring.model import ScoreResult, score_contact
from touchflow.services.contacts import resolve_contact_id
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.lifecycle_pass import refresh_touched
from touchflow.services.scoring import (
    ProposalNotFound,
    accept_proposal,
    calibration_report,
    current_model,
    record_feedback,
    rescore_all,
    save_model,
    score_chunk,
    score_history,
    score_of,
)
from touchflow.store.lifecycle import SqlLifecycleRepository
from touchflow.store.tables import audit_log, contact_tags, contacts, events, lead_scores
from touchflow.store.tables import score_history as score_history_table

N = 0


def send(app: Application, email: str, event_type: str, **props: Any) -> None:
    global N
    N += 1
    record_events(app.services, "web", [RawItem({"id": f"s{N}", "type": event_type, "email": email,
                                                 "properties": props})])


def model(consult: float, mql: float = 50, **extra: Any) -> dict[str, Any]:
    return {"name": "test", "events": [{"name": "consults", "event": "consult", "points": consult},
                                       {"name": "unsubscribed", "event": "unsubscribe", "points": -40}],
            "thresholds": {"mql": mql, "sql": 100}, **extra}


def count(app: Application, event_type: str) -> int:
    with app.engine.connect() as c:
        return len(c.execute(select(events.c.id).where(events.c.type == event_type)).all())


def test_mql_is_emitted_once_when_the_score_first_crosses_the_threshold(app: Application, clock: VirtualClock) -> None:
    save_model(app.services, model(30), actor="ops")
    who = "zhao@score.test"
    send(app, who, "consult")
    refresh_touched(app.services)
    assert count(app, "lead_mql") == 0
    clock.advance(timedelta(hours=1))
    send(app, who, "consult")
    refresh_touched(app.services)
    assert count(app, "lead_mql") == 1 and score_of(app.services, f"email:{who}").score == 60
    clock.advance(timedelta(hours=1))
    send(app, who, "unsubscribe", channel="email")  # negative points: back below the threshold
    refresh_touched(app.services)
    assert score_of(app.services, f"email:{who}").score == 20
    clock.advance(timedelta(hours=1))
    send(app, who, "consult")
    send(app, who, "consult")
    refresh_touched(app.services)
    assert score_of(app.services, f"email:{who}").score == 80
    assert count(app, "lead_mql") == 1  # crossing again emits nothing
    assert [(s.score, s.model_version) for s in score_history(app.services, f"email:{who}")] == [
        (30, 1), (60, 1), (20, 1), (80, 1)]


def test_rescoring_after_a_model_change_is_deterministic_and_versioned(app: Application, clock: VirtualClock) -> None:
    with pytest.raises(PathError, match=r"events\[0\]\.cap"):
        save_model(app.services, {"events": [{"event": "consult", "points": 5, "cap": -1}]}, actor="ops")
    for n in range(6):
        for _ in range(n % 3 + 1):
            send(app, f"c{n}@score.test", "consult")
    first = save_model(app.services, model(10), actor="ops", note="first")
    assert first.version == 1
    assert rescore_all(app.services, chunk=4) == 6
    with app.engine.connect() as c:
        v1 = {r.contact_id: r.score for r in c.execute(select(lead_scores))}
    assert sorted(v1.values()) == [10, 10, 20, 20, 30, 30]
    assert save_model(app.services, model(15, half_life="30d"), actor="ops", note="second").version == 2
    clock.advance(timedelta(days=30))
    rescore_all(app.services, chunk=4)
    with app.engine.connect() as c:
        v2 = {r.contact_id: (r.score, r.model_version) for r in c.execute(select(lead_scores))}
        history_rows = len(c.execute(select(score_history_table.c.id)).all())
        audits = c.execute(select(audit_log.c.action).where(audit_log.c.action == "scoring.model.save")).all()
    assert {cid: score for cid, (score, _) in v2.items()} == {cid: s * 1.5 / 2 for cid, s in v1.items()}  # decayed
    assert {version for _, version in v2.values()} == {2} and len(audits) == 2
    rescore_all(app.services, chunk=4)  # again at the same instant: the same scores, no new history
    with app.engine.connect() as c:
        assert {r.contact_id: (r.score, r.model_version) for r in c.execute(select(lead_scores))} == v2
        assert len(c.execute(select(score_history_table.c.id)).all()) == history_rows == 12


def test_calibration_shows_lift_and_an_accepted_proposal_becomes_a_new_version(app: Application,
                                                                               clock: VirtualClock) -> None:
    save_model(app.services, model(20, mql=10), actor="ops")  # an MQL threshold far too low
    for n in range(40):  # hot leads: three consultations (60 points)
        for _ in range(3):
            send(app, f"hot{n}@cal.test", "consult")
    for n in range(60):  # warm leads: one (20 points)
        send(app, f"warm{n}@cal.test", "consult")
    clock.advance(timedelta(days=2))
    with app.services.reader() as uow:
        assert current_model(uow).version == 1
    clock.advance(timedelta(days=8))
    for n in range(30):
        send(app, f"hot{n}@cal.test", "order_paid", order_id=f"h{n}", amount=500)
    for n in range(6):
        send(app, f"warm{n}@cal.test", "order_paid", order_id=f"w{n}", amount=100)
    record_feedback(app.services, "email:hot39@cal.test", "bad", by="销售小李", note="student, no budget")
    with pytest.raises(ValueError, match="verdict"):
        record_feedback(app.services, "email:hot38@cal.test", "meh", by="x")
    clock.advance(timedelta(days=22))
    report, proposals = calibration_report(app.services, horizon_days=30)
    assert (report.contacts, report.positives, report.feedback_bad) == (100, 36, 1)
    by_band = {band.low: band for band in report.bands if band.contacts}
    assert by_band[50.0].rate == 30 / 40 and by_band[50.0].lift == round((30 / 40) / 0.36, 3)
    assert by_band[10.0].rate == 6 / 60
    assert report.at_mql is not None and report.at_mql.precision == 0.36 and report.at_mql.recall == 1.0
    (proposal,) = [p for p in proposals if p.kind == "threshold"]
    assert proposal.proposed == 60 and "raise the MQL threshold from 10 to 60" in proposal.summary
    assert "precision 36% → 75%" in proposal.summary
    with pytest.raises(ProposalNotFound):
        accept_proposal(app.services, "nope", actor="市场经理")
    accepted = accept_proposal(app.services, proposal.id, actor="市场经理")
    assert accepted.version == 2 and accepted.threshold("mql") == 60
    with app.services.reader() as uow:
        assert current_model(uow).threshold("mql") == 60
        assert uow.lifecycle.proposals("open") == []
        (done,) = uow.lifecycle.proposals("accepted")
        assert done.accepted_version == 2 and done.decided_by == "市场经理"
        cid = resolve_contact_id(uow, "email:hot0@cal.test")
    assert cid
    with app.engine.connect() as c:
        actions = list(c.execute(select(audit_log.c.action).order_by(audit_log.c.id)).scalars())
    assert actions[-1] == "scoring.proposal.accept"


# --- the batch path against the reference, on both databases ------------------------------------------

MICRO = timedelta(microseconds=1)
DAY = timedelta(days=1)
TYPES = ["page_view", "content_download", "consult", "unsubscribe", "message_sent"]  # sends: no rule reads them
RANDOM_MODEL: dict[str, Any] = {
    "name": "random", "half_life": "30d", "lookback": "365d",
    "events": [{"name": "views", "event": "page_view", "points": 1.5, "cap": 4, "per": "1d"},
               {"name": "pricing", "event": "page_view", "points": 10, "where": {"url": "/pricing"}, "cap": 25},
               {"name": "downloads", "event": "content_download", "points": 7.3},
               {"name": "consults", "event": "consult", "points": 20},
               {"name": "unsubscribed", "event": "unsubscribe", "points": -12.5}],
    "attributes": [{"name": "manufacturing", "when": {"attr": "industry", "eq": "制造业"}, "points": 5},
                   {"name": "flagged", "when": {"attr": "custom.flag", "eq": True}, "points": 3},
                   {"name": "vip", "when": {"tag": "vip"}, "points": 4},
                   {"name": "reader", "when": {"event": "content_download", "count": ">= 2", "within": "30d"},
                    "points": 2.5}],
    "thresholds": {"mql": 30, "sql": 60}}


def insert_contacts(app: Application, people: dict[str, ContactFacts], merged: dict[str, str] | None = None) -> None:
    """Rows for these contacts (standard fields, ``custom.x`` values, tags, events) straight into the tables."""
    now = now_of(app)
    rows: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    for cid, facts in people.items():
        row: dict[str, Any] = {f: facts.values.get(f) for f in STANDARD_FIELDS}
        custom = {k[len("custom."):]: v for k, v in facts.values.items() if k.startswith("custom.")}
        row.update(id=cid, created_at=now - 400 * DAY, updated_at=now, merged_into=(merged or {}).get(cid),
                   custom=custom, lineage={})
        rows.append(row)
        tags.extend({"contact_id": cid, "tag": t, "set_by": "test"} for t in sorted(facts.tags))
        event_rows.extend({"id": f"{cid}-{n}", "contact_id": cid, "type": e.type, "occurred_at": e.occurred_at,
                           "received_at": now, "source": "test", "properties": dict(e.properties)}
                          for n, e in enumerate(facts.events))
    with app.engine.begin() as c:
        c.execute(insert(contacts), rows)
        if tags:
            c.execute(insert(contact_tags), tags)
        if event_rows:
            c.execute(insert(events), event_rows)


def now_of(app: Application) -> datetime:
    return app.services.clock.now()


def random_people(rng: random.Random, now: datetime, n: int) -> dict[str, ContactFacts]:
    people = {}
    for i in range(n):
        happened = []
        for _ in range(rng.randint(0, 30)):
            at = now - MICRO * rng.randint(-2 * 86_400_000_000, 400 * 86_400_000_000)  # some in the future
            kind = rng.choice(TYPES)
            happened.append(EventFact(kind, at, {"url": rng.choice(["/pricing", "/blog"]), "n": rng.randint(1, 3)}))
            if rng.random() < 0.1:  # a tie: the same type at the same instant
                happened.append(EventFact(kind, at, {"url": rng.choice(["/pricing", "/blog"])}))
        values = {"industry": rng.choice([None, "制造业", "retail"]), "age": rng.choice([None, 25, 40]),
                  "custom.flag": rng.choice([None, True, 1, 1.0, "yes"])}
        people[f"c{i:02d}"] = ContactFacts(f"c{i:02d}", {k: v for k, v in values.items() if v is not None},
                                           frozenset({"vip"} if rng.random() < 0.3 else ()), tuple(happened))
    return people


def reference_scores(app: Application, people: dict[str, ContactFacts]) -> dict[str, ScoreResult]:
    """What the scorer before the batch path computed: ``score_contact`` over the events in the lookback."""
    now = now_of(app)
    with app.services.reader() as uow:
        model = current_model(uow)
    since = None if model.lookback is None else now - model.lookback
    return {cid: score_contact(model, replace(facts, events=tuple(
        e for e in facts.events if e.occurred_at <= now and (since is None or e.occurred_at > since))), now)
        for cid, facts in people.items()}


def stored_scores(app: Application) -> dict[str, tuple[float, int]]:
    with app.engine.connect() as c:
        return {r.contact_id: (r.score, r.model_version) for r in c.execute(select(lead_scores))}


def test_rescoring_gives_the_reference_scores_on_random_data(app: Application, clock: VirtualClock) -> None:
    people = random_people(random.Random(5), now_of(app), 40)
    merged = {"c07": "c06"}  # merged away: inside the range of ids, never scored
    insert_contacts(app, people, merged)
    save_model(app.services, RANDOM_MODEL, actor="ops")
    assert rescore_all(app.services, chunk=7) == 39
    expected = reference_scores(app, {cid: f for cid, f in people.items() if cid not in merged})
    assert stored_scores(app) == {cid: (r.score, 1) for cid, r in expected.items()}
    for cid in ("c00", "c01", "c02", "c03"):
        mine = score_of(app.services, cid)
        assert (mine.score, mine.parts) == (expected[cid].score, expected[cid].parts)
    with app.engine.connect() as c:
        published = {r.id: r.custom.get("lead_score") for r in c.execute(select(contacts.c.id, contacts.c.custom))}
    assert published == {**{cid: r.score for cid, r in expected.items()}, "c07": None}
    assert count(app, "lead_mql") == sum(r.score >= 30 for r in expected.values()) > 0
    assert count(app, "lead_sql") == sum(r.score >= 60 for r in expected.values())

    clock.advance(DAY)  # a points change a day later: every score moves, MQL is not emitted again
    save_model(app.services, {**RANDOM_MODEL, "events": [{**r, "points": r["points"] * 2}
                                                         for r in RANDOM_MODEL["events"]]}, actor="ops")
    rescore_all(app.services, chunk=7)
    again = reference_scores(app, {cid: f for cid, f in people.items() if cid not in merged})
    assert stored_scores(app) == {cid: (r.score, 2) for cid, r in again.items()}
    assert count(app, "lead_mql") == sum(r.score >= 30 or expected[cid].score >= 30 for cid, r in again.items())
    with app.engine.connect() as c:
        assert len(c.execute(select(score_history_table.c.id)).all()) == 2 * 39


def test_event_rows_carry_exact_microseconds_grouped_by_contact_type_and_time(app: Application) -> None:
    now = now_of(app)
    since = now - 10 * DAY
    times = [datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime(2000, 1, 3, tzinfo=UTC),
             datetime(2026, 1, 1, 0, 0, 0, 999500, tzinfo=UTC), since, since + MICRO, now - MICRO, now, now + MICRO,
             now - timedelta(hours=5, microseconds=123457)]
    people = {cid: ContactFacts(cid, {}, frozenset(), tuple(
        EventFact(kind, at, {"k": n}) for n, at in enumerate(times) for kind in ("x", "y"))) for cid in ("a", "b")}
    insert_contacts(app, people)
    expected = sorted((cid, e.type, micros(e.occurred_at), dict(e.properties) if e.type == "y" else None)
                      for cid, f in people.items() for e in f.events if since < e.occurred_at <= now)
    with app.services.reader() as uow:
        assert uow.lifecycle.event_rows(["a", "b"], {"x", "y"}, {"y"}, since, now, span=True) == expected
        assert uow.lifecycle.event_rows(["b", "a", "b"], {"x", "y"}, {"y"}, since, now) == expected
        everything = uow.lifecycle.event_rows(["a"], {"x"}, (), None, now)
    assert [r[2] for r in everything] == sorted(micros(at) for at in times if at <= now)
    assert everything[0][2] == -1  # a microsecond before the epoch


def test_rescoring_reads_by_contact_on_sqlite(app: Application) -> None:
    """The planner would take the merged_into index (and sort every live contact for each chunk) and the
    (type, occurred_at) index (and walk every event of those types for each chunk): the queries say no."""
    if app.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's planner")
    with app.engine.connect() as c:
        statements: list[str] = []
        driver = c.connection.driver_connection
        assert driver is not None
        driver.set_trace_callback(statements.append)
        repository = SqlLifecycleRepository(c)
        repository.live_ids("c00", 10)
        repository.event_rows(["c00", "c09"], {"page_view", "consult"}, (), now_of(app) - DAY, now_of(app), span=True)
        driver.set_trace_callback(None)
        live, scan = ([str(step[-1]) for step in c.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()]
                      for sql in statements)
    assert live == ["SEARCH contacts USING INDEX sqlite_autoindex_contacts_1 (id>?)"]
    assert len(scan) == 1 and scan[0].startswith("SEARCH events USING COVERING INDEX ix_events_contact_id_type")


def test_written_scores_keep_the_first_mql_time_and_add_history_only_where_asked(app: Application) -> None:
    now = now_of(app)
    insert_contacts(app, {cid: ContactFacts(cid) for cid in ("a", "b")})
    with app.services.uow() as uow:
        uow.lifecycle.write_scores([("a", 10.0, True, False, False), ("b", 55.5, False, True, False)], 3, now)
        uow.lifecycle.write_scores([("b", 120.0, True, True, True)], 4, now + DAY)
        uow.commit()
    with app.services.reader() as uow:
        stored = uow.lifecycle.scores(["a", "b"])
        assert uow.lifecycle.score_states(["a", "b"], span=True) == {"a": (10.0, 3, False, False),
                                                                    "b": (120.0, 4, True, True)}
        assert [(s.score, s.model_version) for s in uow.lifecycle.score_history("b", 10)] == [(120.0, 4)]
        assert len(uow.lifecycle.score_history("a", 10)) == 1
    assert (stored["b"].mql_at, stored["b"].sql_at, stored["b"].computed_at) == (now, now + DAY, now + DAY)
    with app.engine.connect() as c:
        rows = {r.id: r for r in c.execute(select(contacts.c.id, contacts.c.custom, contacts.c.lineage))}
    assert rows["b"].custom == {"lead_score": 120.0} and rows["a"].custom == {"lead_score": 10.0}
    assert rows["b"].lineage["custom.lead_score"] == ["touchflow:scoring", 500, (now + DAY).isoformat()]


def test_a_contact_named_twice_in_a_chunk_is_scored_and_written_once(app: Application) -> None:
    insert_contacts(app, {"a": ContactFacts("a", {}, frozenset(), (EventFact("consult", now_of(app) - DAY),))})
    save_model(app.services, model(30), actor="ops")
    with app.services.uow() as uow:
        assert score_chunk(uow, app.services.ids, current_model(uow), ["a", "a"], now_of(app)) == {"a": 30}
        uow.commit()
    assert [s.score for s in score_history(app.services, "a")] == [30]


# --- worker processes ----------------------------------------------------------------------------------


def test_worker_processes_give_the_same_scores(app: Application) -> None:
    people = random_people(random.Random(8), now_of(app), 30)
    insert_contacts(app, people, {"c07": "c06"})
    save_model(app.services, RANDOM_MODEL, actor="ops")
    assert rescore_all(app.services, chunk=4, workers=2) == 29
    expected = reference_scores(app, {cid: f for cid, f in people.items() if cid != "c07"})
    assert stored_scores(app) == {cid: (r.score, 1) for cid, r in expected.items()}
    assert count(app, "lead_mql") == sum(r.score >= 30 for r in expected.values()) > 0
    with app.services.reader() as uow:
        reader = uow.lifecycle.reader()
        assert reader is not None
        with reader.open() as store:  # what a worker reads, here in this process
            assert store.live_ids(None, 100) == uow.lifecycle.live_ids(None, 100)
    in_memory = create_engine("sqlite://")
    with in_memory.connect() as c:
        assert SqlLifecycleRepository(c).reader() is None  # a second connection would see another database
    in_memory.dispose()


def rescore_in_a_daemon(url: str) -> int:
    app = bootstrap(Settings(url), clock=VirtualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)))
    try:
        return rescore_all(app.services, chunk=4, workers=2)
    finally:
        app.close()


def test_where_workers_cannot_start_rescoring_stays_in_one_process(app: Application, tmp_path: Path) -> None:
    if app.engine.dialect.name != "sqlite":
        pytest.skip("the processes, not the database, are under test")
    insert_contacts(app, random_people(random.Random(9), now_of(app), 12))
    save_model(app.services, RANDOM_MODEL, actor="ops")
    url = app.engine.url.render_as_string(hide_password=False)
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # its processes are daemons: they may not fork
        assert pool.apply(rescore_in_a_daemon, (url,)) == 12
    save_model(app.services, {**RANDOM_MODEL, "floor": 0}, actor="ops")
    script = tmp_path / "unguarded.py"  # no ``if __name__ == "__main__"``: each spawned worker would run it again
    script.write_text(
        "from datetime import UTC, datetime\n"
        "from touchflow.bootstrap import bootstrap\nfrom touchflow.clock import VirtualClock\n"
        "from touchflow.config import Settings\nimport touchflow.services.scoring as scoring\n"
        "scoring.PARALLEL_FROM = 1\n"
        f"app = bootstrap(Settings({url!r}), clock=VirtualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)))\n"
        "print(scoring.rescore_all(app.services, chunk=4))\n", encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "12"), done.stderr[-2000:]
    assert "rescoring workers could not run" in done.stderr
    assert {version for _, version in stored_scores(app).values()} == {2}
