"""The sandbox (J10): real journeys on a throw-away SQLite database in virtual time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from touchflow.bootstrap import open_sandbox
from touchflow.cli import journeys as journey_cli
from touchflow.cli import simulate as simulate_cli
from touchflow.domain.journeys.scenarios import Scenario, ScenarioError, parse_scenario
from touchflow.engine import simulator
from touchflow.engine.simulator import SimulationError, SimulationResult, load_scenario


def simulate(texts: list[str], scenario: Scenario, **options: Any) -> SimulationResult:
    return simulator.simulate(texts, scenario, open_store=open_sandbox, **options)

EXAMPLES = Path(__file__).parents[2] / "examples" / "journeys"
SCENARIOS = sorted(EXAMPLES.glob("*.scenario.yaml"))
ALL_JOURNEYS = ["rule_a_whitepaper", "rule_b_post_purchase", "intent_whitepapers", "intent_consulted",
                "intent_quote", "welcome", "dormant_reactivation"]


def journey(name: str) -> str:
    return (EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")


def run(names: list[str], data: dict[str, Any]) -> SimulationResult:
    return simulate([journey(n) for n in names], parse_scenario(data))


def checks(result: SimulationResult) -> dict[str, tuple[bool, str]]:
    return {c.name: (c.passed, c.detail) for c in result.checks}


def cli_app() -> typer.Typer:
    """The journey group with ``simulate``, as ``touchflow.cli`` wires it once the module is listed."""
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    journey_cli.register(app)
    simulate_cli.register(app)
    return app


def test_every_example_journey_has_a_scenario() -> None:
    assert {p.name.removesuffix(".scenario.yaml") for p in SCENARIOS} == set(ALL_JOURNEYS)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name.removesuffix(".scenario.yaml"))
def test_shipped_scenarios_pass(path: Path) -> None:
    name = path.name.removesuffix(".scenario.yaml")
    result = simulate([journey(name)], load_scenario(path.read_text(encoding="utf-8")))
    failed = [f"{c.name}: {c.detail}" for c in result.checks if not c.passed]
    assert not failed
    assert result.passed and result.journeys == [name]
    for row in result.nodes:  # every run that arrived at a node left it by an edge or is still there
        assert row["entered"] == sum(row["left"].values()) + row["waiting"]


WHITEPAPER = {"type": "content_download", "properties": {"content_id": "wp", "content_type": "whitepaper"}}


def test_timeline_nodes_and_json_shape() -> None:
    result = run(["rule_a_whitepaper"], {"seed": 1, "duration": "7d", "personas": [
        {"name": "reader", "count": 2, "events": [{"at": "1h", **WHITEPAPER}],
         "behaviour": {"open": 1, "click": 1, "delay": "30m"}},
        {"name": "ignorer", "events": [{"at": "0d", **WHITEPAPER}]},
    ], "expect": [{"name": "wecom", "persona": "ignorer", "channel": "wecom", "between": ["3d", "3d"]}]})
    data = json.loads(json.dumps(result.to_json()))
    assert set(data) >= {"personas", "nodes", "checks"}
    reader = data["personas"][0]
    assert reader["name"] == "reader" and reader["contacts"] == 2 and reader["runs"] == {
        "rule_a_whitepaper": {"completed": 2}}
    seen = [(e["at"], e["kind"], e["node"], e["channel"], e["template"], e["event"], e["contacts"])
            for e in reader["timeline"]]
    assert seen == [
        ("1h", "event", None, None, None, "content_download", 2),
        ("1h", "entry", "send_digest", None, None, None, 2),
        ("1h", "message", "send_digest", "email", "whitepaper_digest", None, 2),
        ("1h", "wait_event", "wait_engagement", None, None, None, 2),
        ("1h30m", "event", "send_digest", "email", "whitepaper_digest", "message_opened", 2),
        ("1h30m", "wait_event", "wait_engagement", None, None, None, 2),
        ("1h30m", "update_contact", "engaged", None, None, None, 2),
        ("1h30m", "exit", "done", None, None, None, 2),
        ("1h35m", "event", "send_digest", "email", "whitepaper_digest", "message_clicked", 2),
    ]
    assert all(set(e) >= {"at", "node", "kind", "channel", "template"} for e in reader["timeline"])
    nodes = {(n["journey"], n["node"]): n for n in data["nodes"]}
    assert nodes[("rule_a_whitepaper", "wait_engagement")]["left"] == {"on_event": 2, "on_timeout": 1}
    assert nodes[("rule_a_whitepaper", "wecom_followup")]["entered"] == 1
    assert data["checks"] == [{"name": "wecom", "kind": "message", "passed": True,
                               "detail": "1 of 1 ignorer contact(s) got wecom between 3d and 3d"}]
    assert data["summary"]["passed"] is True and data["summary"]["contacts"] == 3


def test_a_wrong_expectation_fails_with_a_useful_detail() -> None:
    result = run(["intent_consulted"], {"duration": "7d", "personas": [
        {"name": "intent_a", "events": [{"at": "0d", "type": "consult", "properties": {"converted": False}}]}],
        "expect": [
            {"name": "too early", "persona": "intent_a", "channel": "wecom", "between": ["1d", "2d"]},
            {"name": "silence", "persona": "intent_a", "no_message": True},
            {"name": "never waits", "persona": "intent_a", "node": "wait_3d", "reached": False},
            {"name": "converts", "persona": "intent_a", "status": "converted"},
            {"name": "cap", "max_per_day": 0},
        ]})
    found = checks(result)
    assert not result.passed
    assert found["too early"] == (False, "0 of 1 intent_a contact(s) got wecom between 1d and 2d; the others got "
                                         "wecom/trial_invite_exclusive_offer at 3d")
    assert found["silence"] == (False, "1 of 1 intent_a contact(s) got a message: "
                                       "wecom/trial_invite_exclusive_offer at 3d")
    assert found["never waits"] == (False, "1 of 1 intent_a contact(s) reached wait_3d; first at 0d (1)")
    assert found["converts"] == (False, "0 of 1 intent_a contact(s) have a converted run in any journey; "
                                        "runs: completed 1")
    assert found["cap"][0] is False
    assert "intent_a-1 on 2026-03-05 (wecom 1)" in found["cap"][1]


def test_cli_exits_1_when_a_check_fails(tmp_path: Path) -> None:
    scenario = tmp_path / "wrong.scenario.yaml"
    scenario.write_text("""
duration: 7d
personas:
  - name: intent_a
    events: [{at: 0d, type: consult, properties: {converted: false}}]
expect:
  - {name: WeCom on day 1, persona: intent_a, channel: wecom, between: [1d, 1d1h]}
""", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli_app(), ["journey", "simulate", str(EXAMPLES / "intent_consulted.yaml"),
                                       "--scenario", str(scenario), "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["checks"][0]["passed"] is False and "at 3d" in data["checks"][0]["detail"]
    human = runner.invoke(cli_app(), ["journey", "simulate", str(EXAMPLES / "intent_consulted.yaml"),
                                      "-s", str(scenario)])
    assert human.exit_code == 1
    assert "✗ WeCom on day 1" in human.output and "0 check(s) passed, 1 failed" in human.output


def test_cli_passes_and_never_touches_the_users_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = tmp_path / "users.db"
    monkeypatch.setenv("TOUCHFLOW_DATABASE_URL", f"sqlite:///{users.as_posix()}")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli_app(), ["journey", "simulate", str(EXAMPLES / "welcome.yaml"),
                                            "--scenario", str(EXAMPLES / "welcome.scenario.yaml")])
    assert result.exit_code == 0, result.output
    assert "check(s) passed, 0 failed" in result.output and "persona opener" in result.output
    assert not users.exists() and not (tmp_path / "touchflow.db").exists()


def test_cli_reports_scenario_errors_with_the_path(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("personas: [{name: a, events: [{at: soon, type: signup}]}]\n", encoding="utf-8")
    result = CliRunner().invoke(cli_app(), ["journey", "simulate", str(EXAMPLES / "welcome.yaml"),
                                            "-s", str(scenario)])
    assert result.exit_code == 2
    assert "personas[0].events[0].at" in result.output


def test_checks_naming_what_the_journeys_lack_are_errors() -> None:
    base = {"personas": [{"name": "a"}]}
    with pytest.raises(ScenarioError, match=r"expect\[0\]\.node: no node 'wecom_folowup'"):
        run(["rule_a_whitepaper"], {**base, "expect": [{"persona": "a", "node": "wecom_folowup"}]})
    with pytest.raises(ScenarioError, match=r"expect\[0\]\.template: no send node uses template 'digest'"):
        run(["rule_a_whitepaper"], {**base, "expect": [{"persona": "a", "template": "digest"}]})
    with pytest.raises(ScenarioError, match=r"expect\[0\]\.journey: no journey 'rule_b'"):
        run(["rule_a_whitepaper"], {**base, "expect": [{"persona": "a", "status": "completed", "journey": "rule_b"}]})
    with pytest.raises(SimulationError, match="given twice"):
        simulate([journey("welcome"), journey("welcome")], parse_scenario(base))
    with pytest.raises(SimulationError, match="journey 1"):
        simulate(["key: x\n"], parse_scenario(base))
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario("personas: [")


def test_the_database_can_be_kept_but_never_reused(tmp_path: Path) -> None:
    scenario = parse_scenario({"personas": [{"name": "a", "events": [{"at": "0d", "type": "signup"}]}]})
    simulate([journey("welcome")], scenario, database_dir=tmp_path / "sandbox")
    assert (tmp_path / "sandbox" / "sim.db").exists()
    with pytest.raises(SimulationError, match="exists"):
        simulate([journey("welcome")], scenario, database_dir=tmp_path / "sandbox")


def probabilistic(seed: int) -> Scenario:
    return parse_scenario({"seed": seed, "duration": "40d", "personas": [
        {"name": "typical", "count": 40, "events": [
            {"at": "0d", "type": "signup"},
            {"at": "1d", **WHITEPAPER}, {"at": "2d", **WHITEPAPER}],
         "behaviour": {"open": 0.5, "click": 0.2, "reply": 0.1, "purchase": 0.2, "delay": "4h"}}]})


def test_same_seed_same_output() -> None:
    names = ["welcome", "rule_a_whitepaper", "intent_whitepapers", "rule_b_post_purchase"]
    first = simulate([journey(n) for n in names], probabilistic(7)).to_json()
    again = simulate([journey(n) for n in names], probabilistic(7)).to_json()
    other = simulate([journey(n) for n in names], probabilistic(8)).to_json()
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert first["personas"] != other["personas"]


def test_several_journeys_at_once_interact() -> None:
    """Purchases drawn in rule A convert its runs and start rule B's survey 30 days later."""
    result = simulate([journey(n) for n in ["welcome", "rule_a_whitepaper", "intent_whitepapers",
                                            "rule_b_post_purchase"]], probabilistic(3))
    runs = result.personas[0].runs
    assert set(runs) == {"welcome", "rule_a_whitepaper", "intent_whitepapers", "rule_b_post_purchase"}
    assert runs["welcome"] == {"completed": 40}
    timeline = result.personas[0].timeline
    purchases = [e for e in timeline if e["event"] == "order_paid"]
    surveys = [e for e in timeline if e["kind"] == "message" and e["template"] == "satisfaction_survey_30d"]
    assert purchases and surveys
    assert sum(e["contacts"] for e in surveys) <= sum(e["contacts"] for e in purchases)
    assert any(e["event"] == "message_replied" for e in timeline)


SHORT_DORMANCY = """
key: short_dormancy
trigger:
  inactive_for: 2d
  audience: {event: page_view, count: "<= 2", within: 3d}
entry: {max_entries: 3, cooldown: 1d}
nodes:
  nudge: {kind: send, channel: email, template: nudge, next: pause}
  pause: {kind: wait, duration: 10h, next: done}
  done: {kind: exit}
"""


def test_inactivity_scans_run_on_the_workers_hourly_grid() -> None:
    """The sandbox runs the worker's own tick, so an inactivity journey is scanned every hour from the
    start and a contact enters at the first whole hour after it lapses (2d after the last page view)."""
    scenario = parse_scenario({"seed": 4, "duration": "5d", "personas": [
        {"name": "lapsing", "count": 3, "events": [{"at": "-1d", "type": "page_view", "properties": {"url": "/"}},
                                                   {"at": "2d5h30m", "type": "page_view", "properties": {"url": "/"}}],
         "behaviour": {"open": 0.5, "delay": "3h"}},
        {"name": "regular", "count": 2, "events": [
            {"at": "-2d", "type": "page_view", "properties": {"url": "/"}, "every": "19h"}]}]})
    result = simulate([SHORT_DORMANCY, journey("welcome")], scenario)
    lapsing = result.personas[0]
    entries = [e["at"] for e in lapsing.timeline if e["kind"] == "entry" and e["journey"] == "short_dormancy"]
    # lapsed at 1d; not again when the 1d cooldown ends at 2d (still the same lapse, now a day old: late_entry,
    # ADR 0019); again at the first scan after it lapses anew at 4d5h30m
    assert entries == ["1d", "4d6h"]
    entered = sum(e["contacts"] for e in lapsing.timeline if e["kind"] == "entry")
    assert lapsing.runs["short_dormancy"] == {"completed": entered}


def test_paced_scans_give_exactly_what_hourly_scans_give() -> None:
    """The sandbox skips inactivity scans that provably enter nobody; running every hourly scan (as a
    worker does) gives the same output, in many more instants."""
    scenario = parse_scenario({"seed": 4, "duration": "6d", "personas": [
        {"name": "lapsing", "count": 3, "events": [{"at": "-1d", "type": "page_view", "properties": {"url": "/"}},
                                                   {"at": "2d5h", "type": "page_view", "properties": {"url": "/"}}],
         "behaviour": {"open": 0.5, "delay": "3h"}},
        {"name": "regular", "count": 2, "events": [
            {"at": "-2d", "type": "page_view", "properties": {"url": "/"}, "every": "19h"}]}]})
    texts = [SHORT_DORMANCY, journey("welcome"), journey("dormant_reactivation")]
    paced = simulate(texts, scenario)
    hourly = simulate(texts, scenario, pace_scans=False)
    assert paced.stats["instants"] * 2 < hourly.stats["instants"]
    first, second = paced.to_json(), hourly.to_json()
    del first["summary"]["instants"], second["summary"]["instants"]
    assert first == second
    assert paced.personas[0].runs["short_dormancy"]


def test_a_bigger_population() -> None:
    """500 personas over 60 days across every example journey (time it in bench, not here)."""
    download = WHITEPAPER
    scenario = parse_scenario({"seed": 2, "duration": "60d", "personas": [
        {"name": "prospect", "count": 200, "events": [{"at": "0d", "type": "signup"}, {"at": "1d", **download},
                                                      {"at": "6d", **download}],
         "behaviour": {"open": 0.6, "click": 0.2, "purchase": 0.1, "delay": "2h"}},
        {"name": "consulted", "count": 150, "events": [
            {"at": "2d", "type": "consult", "properties": {"converted": False}},
            {"at": "4d", "type": "quote_opened", "properties": {"quote_id": "q"}}],
         "behaviour": {"open": 0.3, "purchase": 0.3}},
        {"name": "sleeper", "count": 150, "events": [{"at": "-88d", "type": "page_view", "properties": {"url": "/"}}],
         "behaviour": {"reactions": [{"template": "welcome_back_coupon_features", "event": "coupon_claimed",
                                      "properties": {"coupon_id": "welcome_back"}, "probability": 0.4}]}}],
        "expect": [
            {"name": "cap", "max_per_day": 3},
            {"persona": "prospect", "template": "welcome_activation_guide", "between": ["0d", "0d"]},
            {"persona": "prospect", "template": "intent_case_study_comparison", "between": ["6d", "6d"]},
            {"persona": "consulted", "template": "trial_invite_exclusive_offer", "between": ["5d", "5d"],
             "share": 0.5},
            {"persona": "sleeper", "template": "welcome_back_coupon_features", "between": ["2d", "2d1h"]},
            {"persona": "sleeper", "node": "sales_task", "share": 0.25},
        ]})
    result = simulate([journey(n) for n in ALL_JOURNEYS], scenario)
    assert [c.detail for c in result.checks if not c.passed] == []
    assert result.stats["contacts"] == 500
    for row in result.nodes:
        assert row["entered"] == sum(row["left"].values()) + row["waiting"]
    sleeper = next(p for p in result.personas if p.name == "sleeper")
    assert sum(sleeper.runs["dormant_reactivation"].values()) == 150
