"""Lead scoring on SQLite and PostgreSQL: MQL once, versioned deterministic rescoring, calibration proposals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.errors import PathError
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
    score_history,
    score_of,
)
from touchflow.store.tables import audit_log, events, lead_scores
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
