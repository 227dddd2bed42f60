"""The dry run's contact reacts (issue 16): an open, a click or a named event chosen per message or per wait
walks the wait's on_event edge; the real contact's consent, segments, tags and stage are what branches and
guardrails see — and every table of the real database keeps its row count (nothing sent, nothing written)."""

from __future__ import annotations

from tests.e2e.journey_support import RULE_A, SCENARIO, VIP, TestClient, put_definition, row_counts, save_templates
from touchflow.bootstrap import Application
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.segments import add_members, create_segment

URL = "/v1/journeys/rule_a_whitepaper/dry-run"


def _world(app: Application, client: TestClient) -> None:
    save_templates(app, ("webinar_sms", "sms"))
    report = upsert_contacts(app.services, "crm", [
        RawItem({"email": "li@example.cn", "name": "李雷", "wecom": "wm-li", "phone": "+8613900000001",
                 "lifecycle_stage": "prospect", "tags": "b2b", "consent.sms": "denied", "consent.email": "granted"}),
        RawItem({"email": "han@example.cn", "name": "韩梅", "phone": "+8613900000002", "lifecycle_stage": "prospect"})])
    assert not report.rejected, report.rejected
    create_segment(app.services, {"key": "vip", "name": "VIP", "kind": "static"}, actor="test")
    add_members(app.services, "vip", ["email:li@example.cn"], actor="test")
    put_definition(client, "rule_a_whitepaper", RULE_A)
    put_definition(client, "vip_webinar", VIP)


def test_an_open_or_a_click_walks_the_wait_for_event_edge(app: Application, client: TestClient) -> None:
    _world(app, client)
    before = row_counts(app)
    plain = client.post(URL, json={"contact": "li@example.cn"}).json()
    assert plain["nodes"]["wait_engagement"]["edge"] == "on_timeout" and "engaged" not in plain["nodes"]

    opened = client.post(URL, json={"contact": "li@example.cn",
                                    "reactions": [{"node": "send_digest", "does": "open", "at": "5h"}]})
    assert opened.status_code == 200, opened.text
    body = opened.json()
    assert body["nodes"]["wait_engagement"]["edge"] == "on_event"
    assert body["nodes"]["wait_engagement"]["offset"] == "5h"  # the virtual time the person chose
    assert "engaged" in body["nodes"] and "wecom_followup" not in body["nodes"]
    assert body["reactions"] == [{"node": "send_digest", "does": "open", "at": "5h", "event": None}]

    clicked = client.post(URL, json={"contact": "li@example.cn",  # chosen on the wait: its message is clicked
                                     "reactions": [{"node": "wait_engagement", "does": "click", "at": "2d"}]}).json()
    assert clicked["nodes"]["wait_engagement"]["edge"] == "on_event"
    assert clicked["nodes"]["wait_engagement"]["offset"] == "2d"
    late = client.post(URL, json={"contact": "li@example.cn",  # after the 3-day timeout: too late
                                  "reactions": [{"node": "send_digest", "does": "open", "at": "4d"}]}).json()
    assert late["nodes"]["wait_engagement"]["edge"] == "on_timeout"
    assert row_counts(app) == before


def test_the_real_contacts_consent_segments_and_stage_decide(app: Application, client: TestClient) -> None:
    _world(app, client)
    before = row_counts(app)
    url = "/v1/journeys/vip_webinar/dry-run"
    li = client.post(url, json={"contact": "li@example.cn"}).json()
    assert li["copied"] == {"consent": {"email": "granted", "sms": "denied"}, "segments": ["vip"],
                            "tags": ["b2b"], "stage": "prospect"}
    pick = li["nodes"]["pick"]
    assert pick["edge"] == "case[0]" and pick["detail"]["conditions"][0] is True  # in the segment vip
    assert pick["detail"]["why"][0] == [{"segment": "vip", "actual": ["vip"], "result": True}]
    sms = li["nodes"]["invite"]["messages"][0]
    assert sms["status"] == "skipped" and sms["reason"] == "consent"  # the withdrawn SMS consent holds

    han = client.post(url, json={"contact": "han@example.cn"}).json()  # not in vip, a prospect: the else way
    assert han["nodes"]["pick"]["edge"] == "else" and "invite" not in han["nodes"]
    assert han["nodes"]["pick"]["detail"]["why"][0] == [{"segment": "vip", "actual": [], "result": False}]
    assert han["nodes"]["pick"]["detail"]["why"][1][0] == {"attr": "lifecycle_stage", "op": "eq",
                                                         "expected": "customer", "actual": "prospect", "result": False}

    joined = client.post(url, json={"contact": "li@example.cn", "reactions": [
        {"node": "wait_join", "does": "event", "event": "webinar_joined", "at": "1d"}]}).json()
    assert joined["nodes"]["wait_join"]["edge"] == "on_event" and "joined" in joined["nodes"]
    assert row_counts(app) == before


def test_reactions_hostile_input_names_the_field(app: Application, client: TestClient) -> None:
    _world(app, client)
    before = row_counts(app)
    cases = [
        ({"node": "nowhere", "does": "open"}, "reactions[0].node"),
        ({"node": "cs_task", "does": "open"}, "reactions[0].node"),
        ({"node": "send_digest", "does": "reply"}, "reactions[0].does"),
        ({"node": "send_digest", "does": "open", "at": "soon"}, "reactions[0].at"),
        ({"node": "send_digest", "does": "event"}, "reactions[0].event"),
        ({"node": "wait_engagement", "does": "event", "event": "order_paid"}, "reactions[0].event"),
        ({"node": "send_digest", "does": "open", "colour": "red"}, "reactions[0].colour"),
    ]
    for reaction, field in cases:
        answer = client.post(URL, json={"contact": "li@example.cn", "reactions": [reaction]})
        assert answer.status_code == 422, (reaction, answer.text)
        assert answer.json()["errors"][0]["field"] == field, answer.json()
    twice = client.post(URL, json={"contact": "li@example.cn", "reactions": [
        {"node": "send_digest", "does": "open"}, {"node": "send_digest", "does": "click"}]})
    assert twice.status_code == 422 and twice.json()["errors"][0]["field"] == "reactions[1].node"
    assert row_counts(app) == before


def test_scenario_run_counts_every_edge_as_the_canvas_names_it(app: Application, client: TestClient) -> None:
    _world(app, client)
    before = row_counts(app)
    body = client.post("/v1/journeys/rule_a_whitepaper/scenario-run", json={"scenario": SCENARIO}).json()
    edges, counts = body["edges"], body["counts"]
    assert edges["send_digest:next"] == counts["wait_engagement"]["entered"] == 106
    assert edges["wait_engagement:on_event"] == counts["engaged"]["entered"]
    assert edges["wait_engagement:on_timeout"] == counts["wecom_followup"]["entered"]
    assert edges["wait_engagement:on_event"] + edges["wait_engagement:on_timeout"] == 106
    assert 0 < edges["wait_engagement:on_event"] < 106  # both ways taken by the scenario's personas
    assert not any(key.endswith(":end") for key in edges)  # an exit has no edge to draw
    assert row_counts(app) == before

    branchy = client.post("/v1/journeys/vip_webinar/scenario-run", json={"scenario": """
personas:
  - name: vip
    count: 2
    segments: [vip]
    consent: {sms: granted}
    events: [{at: 0d, type: content_download, properties: {content_id: wp-1, content_type: whitepaper}}]
  - name: other
    count: 3
    events: [{at: 0d, type: content_download, properties: {content_id: wp-1, content_type: whitepaper}}]
"""}).json()
    assert branchy["edges"]["pick:cases.0"] == 2 and branchy["edges"]["pick:else"] == 3  # canvas handle names
    assert branchy["edges"]["invite:next"] == 2
    assert row_counts(app) == before
