"""``touchflow journey simulate``: the sandbox (J10) — months of persona behaviour in seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from touchflow.bootstrap import open_sandbox
from touchflow.cli.common import console, fail, print_json
from touchflow.cli.journeys import journey_app
from touchflow.domain.journeys.parse import DefinitionError
from touchflow.domain.journeys.scenarios import ScenarioError
from touchflow.domain.safe_yaml import YamlTooLarge
from touchflow.engine.simulator import SimulationError, SimulationResult, load_scenario
from touchflow.engine.simulator import simulate as run_simulation
from touchflow.services.journeys import JourneyError

__all__ = ["register", "simulate"]


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {what} {path}: {exc.strerror or exc}")


def simulate(
    journeys: Annotated[list[Path], typer.Argument(help="journey definition(s), YAML or JSON; several run together")],
    scenario: Annotated[Path, typer.Option("--scenario", "-s", help="scenario: personas, behaviour, expectations")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    keep_db: Annotated[Path | None, typer.Option(
        "--keep-db", help="keep the sandbox database as DIR/sim.db (DIR must not hold one) to inspect it")] = None,
) -> None:
    """Run journeys in a sandbox: a fresh database, virtual time, scripted personas; exit 1 if a check fails.

    Never touches your database. Personas, their events and their reactions to messages (open,
    click, reply, purchase …) come from the scenario; the same seed gives the same result.
    """
    texts = [_read(path, "journey") for path in journeys]
    try:
        parsed = load_scenario(_read(scenario, "scenario"))
        result = run_simulation(texts, parsed, open_store=open_sandbox, database_dir=keep_db)
    except ScenarioError as exc:
        fail(f"{scenario}: {exc}")
    except YamlTooLarge as exc:
        fail(f"a journey or the scenario: {exc}")
    except (SimulationError, DefinitionError, JourneyError) as exc:
        fail(str(exc))
    if as_json:
        print_json(result.to_json())
    else:
        _render(result)
    if not result.passed:
        raise typer.Exit(1)


def _what(entry: dict[str, Any]) -> str:
    kind = entry["kind"]
    if kind == "event":
        about = "/".join(str(entry[k]) for k in ("channel", "template") if entry.get(k))
        return f"[cyan]{entry['event']}[/cyan]" + (f" ({about})" if about else "")
    if kind in ("message", "webhook"):
        status = entry.get("status")
        return (f"[bold]→ {entry['channel']}[/bold] {entry['template'] or ''}"
                + (f" [yellow]({status})[/yellow]" if status and status != "sent" else ""))
    return f"{kind} → {entry['edge']}" if entry.get("edge") else str(kind)


def _render(result: SimulationResult) -> None:
    scenario = result.scenario
    several = len(result.journeys) > 1
    console.print(f"[bold]{scenario.name or 'scenario'}[/bold]: {', '.join(result.journeys)} from "
                  f"{scenario.start.isoformat()} to {scenario.end.isoformat()} (seed {scenario.seed}); "
                  "times are offsets from the start")
    for persona in result.personas:
        runs = "; ".join(f"{j} " + ", ".join(f"{s} {n}" for s, n in statuses.items())
                         for j, statuses in persona.runs.items()) or "never entered"
        console.print(f"\n[bold]persona {persona.name}[/bold] — {persona.contacts} contact(s); runs: {runs}")
        table = Table("at", *(["journey"] if several else []), "node", "what", "contacts", box=None)
        for entry in persona.timeline:
            table.add_row(entry["at"], *([entry["journey"] or ""] if several else []), entry["node"] or "",
                          _what(entry), str(entry["contacts"]))
        console.print(table)
    console.print()
    nodes = Table("journey", "node", "kind", "entered", "left by", "waiting", title="nodes")
    for row in result.nodes:
        nodes.add_row(row["journey"], row["node"], row["kind"], str(row["entered"]),
                      ", ".join(f"{edge} {n}" for edge, n in row["left"].items()), str(row["waiting"]))
    console.print(nodes)
    console.print()
    for check in result.checks:
        mark = "[green]✓[/green]" if check.passed else "[red]✗[/red]"
        console.print(f"{mark} {check.name}: {check.detail}")
    failed = sum(not c.passed for c in result.checks)
    stats = result.stats
    colour = "red" if failed else "green"
    console.print(f"\n[{colour}]{len(result.checks) - failed} check(s) passed, {failed} failed[/{colour}] — "
                  f"{stats.get('contacts', 0)} contacts, {stats.get('messages', 0)} messages, "
                  f"{scenario.duration.days} days simulated in {result.elapsed:.1f} s")


def register(app: typer.Typer) -> None:
    """Add ``simulate`` to the ``journey`` group (once, however often this is called)."""
    del app  # the command lives in the journey group, which cli.journeys adds to the app
    if not any(c.name == "simulate" for c in journey_app.registered_commands):
        journey_app.command("simulate")(simulate)
