"""Personas over HTTP: create (YAML or JSON), list, coverage, and the journey map as Markdown and CSV."""

from __future__ import annotations

import warnings

from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

PERSONA_YAML = """
key: buyer
name: 采购经理
profile:
  basic_attributes: 35 岁，上海
  interests: 降本
  behaviour_habits: 邮件为主
  pain_points: 比价繁琐
  core_needs: 透明报价
condition: {attr: city, eq: 上海}
map:
  stages:
    - stage: 考虑
      emotion: 犹豫
      touchpoints: [邮件, 官网]
      behaviours: [consult]
      trigger: {event: quote_requested}
      expected_action: 发送报价
"""


def test_personas_are_created_listed_covered_and_exported(client: TestClient) -> None:
    assert client.post("/v1/contacts", json={"contacts": [{"email": "a@x.cn", "city": "上海"},
                                                          {"email": "b@x.cn", "city": "北京"}]}).status_code == 200
    created = client.post("/v1/personas", content=PERSONA_YAML.encode(), headers={"content-type": "application/yaml"})
    assert created.status_code == 201, created.text
    assert created.json()["condition"] == {"attr": "city", "eq": "上海"}
    bad = client.post("/v1/personas", json={"key": "x", "name": "X", "profile": {}, "condition": {"always": True}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "profile.basic_attributes"
    with_link = PERSONA_YAML.replace("expected_action: 发送报价", "expected_action: 发送报价\n      journeys: [nope]")
    linked = client.post("/v1/personas", content=with_link.encode())
    assert linked.status_code == 422 and linked.json()["errors"][0]["field"] == "map.stages[0].journeys[0]"
    assert [p["key"] for p in client.get("/v1/personas").json()["items"]] == ["buyer"]
    coverage = client.get("/v1/personas/coverage").json()
    assert (coverage["total"], coverage["covered"], coverage["share"], coverage["meets_target"]) == (2, 1, 0.5, False)
    md = client.get("/v1/personas/buyer/map")
    assert md.status_code == 200 and md.headers["content-type"].startswith("text/markdown")
    assert "| 考虑 | 犹豫 | 邮件; 官网 | 咨询 consult |" in md.text and "**核心需求 Core needs**: 透明报价" in md.text
    table = client.get("/v1/personas/buyer/map", params={"format": "csv"})
    assert table.headers["content-type"].startswith("text/csv")
    assert table.text.splitlines()[1] == ("考虑,犹豫,邮件; 官网,咨询 consult,"
                                          "\"{event: quote_requested, count: '>= 1'}\",发送报价,")
    assert client.get("/v1/personas/nobody/map").status_code == 404
    assert client.get("/v1/personas/buyer/map", params={"format": "pdf"}).status_code == 422
