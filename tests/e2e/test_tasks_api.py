"""Tasks over HTTP: the complaint hand-off is listed, handled once, and counted for timeliness."""

from __future__ import annotations

import warnings

from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient




def test_complaint_task_listed_done_and_timeliness(client: TestClient) -> None:
    sent = client.post("/v1/events", json={"events": [{"type": "complaint", "email": "angry@x.cn",
                                                       "properties": {"reason": "短信骚扰"}}]})
    assert sent.status_code == 200, sent.text
    (task,) = client.get("/v1/tasks", params={"queue": "service"}).json()["items"]
    assert task["status"] == "open" and "短信骚扰" in task["title"]
    refused = client.post(f"/v1/tasks/{task['id']}/done", json={"by": "客服小李"})  # who acted is the caller
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "by"
    done = client.post(f"/v1/tasks/{task['id']}/done", json={"note": "called back"})
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert client.post(f"/v1/tasks/{task['id']}/done").status_code == 409
    assert client.post("/v1/tasks/nope/done").status_code == 404
    rows = client.get("/v1/tasks/timeliness").json()["items"]
    team = [r for r in rows if r["scope"] == "team"]
    assert len(team) == 1 and team[0]["queue"] == "service"
    assert (team[0]["within_sla"], team[0]["done_late"], team[0]["open_late"], team[0]["share"]) == (1, 0, 0, 1.0)
    assert client.get("/v1/tasks").json()["items"] == []
