"""Live numbers on the canvas equal the measurement rollups on the same data; the contacts waiting at a node are
listed by name and masked address and acted on (J9), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from tests.e2e.journey_support import RULE_A, TestClient, seed_live
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.journey_live import MESSAGE_COUNTERS, canvas_edge
from touchflow.services.metrics import local_today


def test_live_numbers_equal_the_metric_rollups(app: Application, client: TestClient, clock: VirtualClock) -> None:
    seed_live(app, clock)
    end = local_today(app.services)
    params = {"from": (end - timedelta(days=10)).isoformat(), "to": end.isoformat()}
    live = client.get("/v1/journeys/rule_a_whitepaper/live", params=params)
    assert live.status_code == 200, live.text
    nodes = live.json()["nodes"]
    report = client.get("/v1/metrics", params={**params, "journey": "rule_a_whitepaper", "by": "step"}).json()
    steps = {row["step"]: row for row in report["rows"] if row["step"]}
    assert steps, report  # the report has numbers to compare with
    for step, row in steps.items():
        node = nodes[step]
        assert (node["entered"], node["converted"]) == (row["entered"], row["converted"]), step
        assert {n: node["messages"][n] for n in MESSAGE_COUNTERS} == {n: row[n] for n in MESSAGE_COUNTERS}, step
        assert node["messages"]["skipped"] == sum(row["skipped"].values()), step
    assert sum(n["entered"] for n in nodes.values()) == 5
    assert nodes["send_digest"]["messages"]["sent"] == 5 and nodes["wecom_followup"]["messages"]["queued"] == 3
    # waiting now equals the journey page's numbers; exits and edges come from the runs
    shown = client.get("/v1/journeys/rule_a_whitepaper").json()
    assert {k: n["waiting"] for k, n in nodes.items() if n["waiting"]} == shown["at_nodes"]
    assert live.json()["edges"]["wait_engagement:on_timeout"] == 3
    assert live.json()["edges"]["send_digest:next"] == 5
    assert sum(n["exited"] for n in nodes.values()) == 3

    early = client.get("/v1/journeys/rule_a_whitepaper/live",
                       params={"from": "2020-01-01", "to": "2020-01-02"}).json()
    assert all(n["entered"] == 0 and n["exited"] == 0 for n in early["nodes"].values()) and early["edges"] == {}
    bad = client.get("/v1/journeys/rule_a_whitepaper/live", params={"from": "2026-03-05", "to": "2026-03-01"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "to"
    assert client.get("/v1/journeys/rule_a_whitepaper/live", params={"to": "2026-02-30"}).json()[
        "errors"][0]["field"] == "to"
    assert client.get("/v1/journeys/rule_a_whitepaper/live", params={"from": "yesterday"}).status_code == 422
    assert client.get("/v1/journeys/nope/live").status_code == 404


def test_who_waits_at_a_node_and_acting_on_them(app: Application, client: TestClient, clock: VirtualClock) -> None:
    seed_live(app, clock)
    listed = client.get("/v1/journeys/rule_a_whitepaper/nodes/wait_engagement/waiting")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 2 and {c["email"] for c in body["contacts"]} == {"d***@live.test", "e***@live.test"}
    (one,) = [c for c in body["contacts"] if c["email"] == "e***@live.test"]
    assert one["name"] == "客户e" and one["status"] == "waiting"
    assert "e@live.test" not in listed.text
    paused = client.post(f"/v1/journeys/rule_a_whitepaper/runs/{one['contact']}/pause", json={"reason": "检查"})
    assert paused.status_code == 200
    again = client.get("/v1/journeys/rule_a_whitepaper/nodes/wait_engagement/waiting").json()
    assert {c["contact"]: c["status"] for c in again["contacts"]}[one["contact"]] == "paused"
    removed = client.post(f"/v1/journeys/rule_a_whitepaper/runs/{one['contact']}/remove", json={"reason": "x"})
    assert removed.status_code == 200
    assert client.get("/v1/journeys/rule_a_whitepaper/nodes/wait_engagement/waiting").json()["total"] == 1
    audit = [r["action"] for r in client.get("/v1/audit").json()["items"]]
    assert "run.pause" in audit and "run.remove" in audit
    assert client.get("/v1/journeys/nope/nodes/x/waiting").status_code == 404
    assert client.get("/v1/journeys/rule_a_whitepaper/nodes/x/waiting", params={"limit": 0}).status_code == 422


def test_engine_edges_are_named_as_the_canvas_names_them() -> None:
    assert [canvas_edge(e) for e in ("case[0]", "path[12]", "else", "on_timeout", "next")] == [
        "cases.0", "paths.12", "else", "on_timeout", "next"]


def test_copy_and_paste_a_sub_graph_over_http(client: TestClient) -> None:
    copied = client.post("/v1/journeys/copy", json={"text": RULE_A, "nodes": ["engaged", "done"]})
    assert copied.status_code == 200, copied.text
    fragment = copied.json()["fragment"]
    pasted = client.post("/v1/journeys/edit", json={"text": RULE_A, "ops": [
        {"op": "paste", "fragment": fragment, "dx": 20, "dy": 20}, {"op": "note", "id": "n1", "x": 1, "y": 2,
                                                                   "text": "备注"}]})
    assert pasted.status_code == 200, pasted.text
    graph = pasted.json()["graph"]
    assert {"engaged_2", "done_2"} <= {n["id"] for n in graph["nodes"]}
    assert {"from": "engaged_2", "edge": "next", "to": "done_2"} in graph["edges"]
    assert graph["notes"] == [{"id": "n1", "x": 1, "y": 2, "text": "备注"}]
    copied_findings = [f for f in pasted.json()["findings"] if f["node"] in ("engaged_2", "done_2")]
    assert {f["severity"] for f in copied_findings} == {"warning"}  # unreachable until connected
    bad = client.post("/v1/journeys/copy", json={"text": RULE_A, "nodes": ["nope"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "nodes"
    worse = client.post("/v1/journeys/edit", json={"text": RULE_A, "ops": [{"op": "paste", "fragment": "x: 1"}]})
    assert worse.status_code == 422 and worse.json()["errors"][0]["field"] == "ops[0].fragment"
