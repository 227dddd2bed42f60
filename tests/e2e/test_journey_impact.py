"""Impact preview before publishing (issue 16), on SQLite and PostgreSQL: how many contacts are at each node of
each running version now, that all of them stay on their version (none moves), what the draft changes at their
node for new entrants — and the one effect a publish does have on them, checked against the engine: an event
the new version no longer names reaches an old version's wait only at its timeout recheck."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.e2e.journey_support import RULE_A, V2, TestClient, download, row_counts, run_engine, save_templates
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.contacts import find_contact_id
from touchflow.services.ingest import RawItem, record_events
from touchflow.services.journeys import publish_journey

URL = "/v1/journeys/rule_a_whitepaper/impact"


def _where(app: Application, email: str) -> tuple[int, str, str]:
    contact_id = find_contact_id(app.services, f"email:{email}")
    with app.services.reader() as uow:
        run = uow.journeys.runs_of([contact_id])[0]
    return run.version, run.node_id, run.status


def test_impact_preview_says_who_stays_where_and_what_new_entrants_meet(app: Application, client: TestClient,
                                                                       clock: VirtualClock) -> None:
    assert V2 != RULE_A and "cs_task" not in V2
    save_templates(app)
    publish_journey(app.services, RULE_A, actor="test")
    download(app, clock, ["a@impact.test", "b@impact.test"])
    run_engine(app)
    assert _where(app, "a@impact.test") == (1, "wait_engagement", "waiting")

    before = row_counts(app)
    answer = client.post(URL, json={"definition": V2})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert row_counts(app) == before  # a preview writes nothing
    assert (body["live_version"], body["running"], body["move"], body["stay"]) == (1, 2, 0, 2)
    assert body["versions"] == [{"version": 1, "running": 2, "current": True}]
    [wait] = body["nodes"]
    assert wait["node"] == "wait_engagement" and wait["version"] == 1 and wait["statuses"] == {"waiting": 2}
    assert wait["in_draft"] == "changed" and set(wait["changed"]) == {"events", "timeout"}
    assert wait["continues"] == {"on_event": "engaged", "on_timeout": "wecom_followup"}  # as v1 says
    assert body["at_changed_nodes"] == 2
    assert body["diff"]["nodes_removed"] == ["cs_task"]  # new entrants never reach it

    # publish v2; a new contact enters it; the draft (= v2) changes nothing, and v1's contacts still stay
    publish_journey(app.services, V2, actor="test")
    download(app, clock, ["c@impact.test"])
    run_engine(app)
    assert _where(app, "c@impact.test") == (2, "wait_engagement", "waiting")
    same = client.post(URL, json={}).json()  # no draft saved: the live text, v2
    assert same["versions"] == [{"version": 2, "running": 1, "current": True},
                                {"version": 1, "running": 2, "current": False}]
    by_version = {n["version"]: n for n in same["nodes"]}
    assert by_version[1]["in_draft"] == "changed" and by_version[2]["in_draft"] == "unchanged"
    assert same["diff"]["empty"] is True, json.dumps(same["diff"])

    # the engine agrees that nobody moved: a's open arrives now and, although v2 names no message_opened, a's run
    # on v1 hears it at once and takes v1's on_event; b (no open) times out on v1 three days later
    contact_id = find_contact_id(app.services, "email:a@impact.test")
    with app.services.reader() as uow:
        message = next(m for m in uow.journeys.messages_of([contact_id]) if m.node_id == "send_digest")
    record_events(app.services, "tracking", [RawItem({
        "id": "open_a", "type": "message_opened", "email": "a@impact.test", "occurred_at": clock.now().isoformat(),
        "properties": {"message_id": message.id, "channel": "email", "journey_id": message.journey_id,
                       "node_id": "send_digest", "template": "whitepaper_digest"}})])
    run_engine(app)
    assert _where(app, "a@impact.test") == (1, "done", "completed")
    with app.services.reader() as uow:
        steps = uow.journeys.steps_of([r.id for r in uow.journeys.runs_of([contact_id])])
    assert [s.edge for s in steps if s.node_id == "wait_engagement" and s.edge] == ["on_event"]
    clock.advance(timedelta(days=3, minutes=1))
    run_engine(app)
    assert _where(app, "b@impact.test")[1] in ("wecom_followup", "cs_task", "done")


def test_impact_preview_hostile_input_names_the_field(app: Application, client: TestClient) -> None:
    assert client.post("/v1/journeys/nope/impact", json={"definition": RULE_A.replace(
        "key: rule_a_whitepaper", "key: nope")}).status_code == 404
    publish_journey(app.services, RULE_A, actor="test")
    broken = client.post(URL, json={"definition": RULE_A.replace("next: wait_engagement", "next: nowhere")})
    assert broken.status_code == 422 and broken.json()["errors"][0]["field"].startswith("definition")
    other = client.post(URL, json={"definition": RULE_A.replace("key: rule_a_whitepaper", "key: other")})
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "definition.key"
    empty = client.post(URL, json={}).json()  # published, nobody inside
    assert (empty["running"], empty["nodes"], empty["diff"]["empty"]) == (0, [], True)
