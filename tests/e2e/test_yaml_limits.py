"""Hostile YAML over HTTP and on the CLI: a clear 413/422 or exit 2 naming the limit, nothing stored."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning
from typer.testing import CliRunner

from tests.unit.test_safe_yaml import alias_bomb
from touchflow.bootstrap import Application, bootstrap
from touchflow.clock import VirtualClock
from touchflow.domain.safe_yaml import DEFAULT_LIMITS

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

DEEP = "key: deep\ntrigger: {event: signup}\nnodes: " + "{a: " * 200 + "1" + "}" * 200 + "\n"


@pytest.mark.parametrize("path", ["/v1/journeys", "/v1/personas"])
def test_the_alias_bomb_gets_422_naming_the_limit(client: TestClient, path: str) -> None:
    response = client.post(path, content=alias_bomb(), headers={"Content-Type": "application/yaml"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert "limit nodes: 200000" in body["detail"]
    assert body["errors"] == [{"field": "body", "in": "body", "reason": body["detail"].removeprefix("body: ")}]
    assert client.get(path).json()["items"] == []


def test_deep_and_huge_journeys_are_refused(client: TestClient) -> None:
    deep = client.post("/v1/journeys", content=DEEP, headers={"Content-Type": "application/yaml"})
    assert deep.status_code == 422 and "limit depth: 64" in deep.json()["detail"]
    huge = "key: huge\ntrigger: {event: signup}\nnote: '" + "x" * DEFAULT_LIMITS.max_bytes + "'\n"
    response = client.post("/v1/journeys", content=huge, headers={"Content-Type": "application/yaml"})
    assert response.status_code == 413 and "limit size" in response.json()["detail"]
    assert client.get("/v1/journeys").json()["items"] == []


@pytest.fixture
def env(app: Application, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setattr("touchflow.cli.common.bootstrap", lambda: bootstrap(app.settings, clock=clock))
    return {"TOUCHFLOW_DATABASE_URL": app.settings.database_url}


@pytest.mark.parametrize("command", [["journey", "validate"], ["journey", "publish"], ["segment", "create"],
                                     ["persona", "create"], ["guardrails", "set"], ["assignment", "set"]])
def test_cli_exits_2_naming_the_limit(env: dict[str, str], tmp_path: Path, command: list[str]) -> None:
    from touchflow.cli import app as cli

    for name, text, limit in (("bomb.yaml", alias_bomb(), "limit nodes"), ("deep.yaml", DEEP, "limit depth")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(cli, [*command, str(path)], env=env)
        assert result.exit_code == 2, result.output
        assert limit in " ".join(result.output.split()) and "Traceback" not in result.output


def test_simulate_exits_2_on_a_bomb_scenario(env: dict[str, str], tmp_path: Path) -> None:
    from touchflow.cli import app as cli

    journey = Path(__file__).parents[2] / "examples" / "journeys" / "welcome.yaml"
    scenario = tmp_path / "bomb.scenario.yaml"
    scenario.write_text(alias_bomb(), encoding="utf-8")
    result = CliRunner().invoke(cli, ["journey", "simulate", str(journey), "--scenario", str(scenario)], env=env)
    assert result.exit_code == 2, result.output
    assert "limit nodes" in " ".join(result.output.split())
