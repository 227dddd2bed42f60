"""``touchflow persona create|list|show|coverage|map`` and ``touchflow assignment show|set``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table

from touchflow.cli.common import (
    CsvOpt,
    console,
    emit_rows,
    fail,
    load_document,
    local_actor,
    local_time,
    open_app,
    print_json,
    workspace_zone,
)
from touchflow.domain.journeys.maps import journey_map_to_data
from touchflow.domain.scoring.assignment import policy_to_document
from touchflow.domain.scoring.personas import persona_to_data
from touchflow.services.assignment import current_assignment, set_assignment_policy
from touchflow.services.personas import (
    MapFormat,
    PersonaNotFound,
    export_journey_map,
    list_personas,
    persona_coverage,
    save_persona,
    show_persona,
)

__all__ = ["register"]

persona_app = typer.Typer(help="Personas (five modules + who they cover) and their journey maps.", no_args_is_help=True)
assignment_app = typer.Typer(help="Who takes new sales tasks: owner, territory, industry, round-robin.",
                             no_args_is_help=True)




@persona_app.command("create")
def create(file: Annotated[Path, typer.Argument(help="the persona as YAML or JSON (key, name, profile, "
                                                     "condition or segment, map)")]) -> None:
    """Create or replace a persona. Journeys its map links to must exist."""
    document = load_document(file, "a persona")
    with open_app() as app:
        try:
            saved = save_persona(app.services, document, actor=local_actor().label)
        except ValueError as exc:
            fail(str(exc))
    verb = "created" if saved.created else "updated"
    console.print(f"persona {saved.persona.key} {verb}: {saved.persona.name}, "
                  f"{len(saved.persona.journey_map.stages)} map stage(s)")


@persona_app.command("list")
def list_(json_: Annotated[bool, typer.Option("--json")] = False, csv_: CsvOpt = False) -> None:
    with open_app() as app:
        found = list_personas(app.services)
        zone = workspace_zone(app)
    rows = [{"key": s.persona.key, "name": s.persona.name, "segment": s.persona.segment,
             "stages": len(s.persona.journey_map.stages), "updated_at": s.updated_at,
             "updated_by": s.updated_by} for s in found]
    if emit_rows(rows, ["key", "name", "segment", "stages", "updated_at", "updated_by"], as_json=json_, as_csv=csv_,
                 zone=zone):
        return
    table = Table("key", "name", "defined by", "stages", f"updated ({zone.key})")
    for s in found:
        defined = f"segment {s.persona.segment}" if s.persona.segment else "condition"
        table.add_row(s.persona.key, s.persona.name, defined, str(len(s.persona.journey_map.stages)),
                      f"{local_time(s.updated_at, zone)} by {s.updated_by}")
    console.print(table)


@persona_app.command("show")
def show(key: str, json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The persona as data (what `persona create` reads)."""
    with open_app() as app:
        try:
            saved = show_persona(app.services, key)
        except PersonaNotFound as exc:
            fail(str(exc), code=1)
    document = persona_to_data(saved.persona)
    if json_:
        print_json(document)
        return
    console.print(yaml.safe_dump(document, allow_unicode=True, sort_keys=False).rstrip(), markup=False)


@persona_app.command("coverage")
def coverage(json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Share of contacts in at least one persona (target ≥ 80%), per persona, and overlaps."""
    with open_app() as app:
        report = persona_coverage(app.services)
    if json_:
        print_json({"total": report.total, "covered": report.covered, "share": report.share,
                    "meets_target": report.meets_target, "target": report.target, "in_several": report.in_several,
                    "personas": [{"key": p.key, "members": p.members, "share": p.share, "only_here": p.only_here}
                                 for p in report.personas],
                    "overlaps": [{"personas": [o.first, o.second], "both": o.both} for o in report.overlaps]})
        return
    table = Table("persona", "members", "share", "only here")
    for p in report.personas:
        table.add_row(p.key, str(p.members), f"{p.share:.1%}", str(p.only_here))
    console.print(table)
    for o in report.overlaps:
        console.print(f"overlap {o.first} ∩ {o.second}: {o.both}")
    mark = "meets" if report.meets_target else "below"
    console.print(f"covered {report.covered} of {report.total} contacts ({report.share:.1%}), {mark} the "
                  f"{report.target:.0%} target; {report.in_several} in several personas")


@persona_app.command("map")
def map_(key: str, format_: Annotated[str, typer.Option("--format", help="md or csv")] = "md",
         out: Annotated[Path | None, typer.Option(help="write to this file (CSV with a BOM, for Excel)")] = None,
         json_: Annotated[bool, typer.Option("--json", help="the map as data")] = False) -> None:
    """The persona's journey map as Markdown or CSV."""
    if format_ not in ("md", "csv"):
        fail("--format: md or csv")
    fmt: MapFormat = "csv" if format_ == "csv" else "md"
    with open_app() as app:
        try:
            if json_:
                print_json(journey_map_to_data(show_persona(app.services, key).persona.journey_map))
                return
            text = export_journey_map(app.services, key, fmt)
        except PersonaNotFound as exc:
            fail(str(exc), code=1)
    if out is None:
        sys.stdout.write(text)
        return
    out.write_text(text, encoding="utf-8-sig" if fmt == "csv" else "utf-8", newline="")
    console.print(f"wrote {out}")


@assignment_app.command("show")
def assignment_show(json_: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The rules in force (first match wins) and how many round-robin turns each rotation has taken."""
    with open_app() as app:
        view = current_assignment(app.services)
    document = {**policy_to_document(view.policy), "cursors": view.cursors}
    if json_:
        print_json(document)
        return
    console.print(yaml.safe_dump(document, allow_unicode=True, sort_keys=False).rstrip(), markup=False)


@assignment_app.command("set")
def assignment_set(file: Annotated[Path, typer.Argument(help="rules as YAML or JSON (queues, rules)")]) -> None:
    """Replace the rules. A bad element is refused with its path; nothing changes then."""
    document = load_document(file, "the assignment rules")
    with open_app() as app:
        try:
            policy = set_assignment_policy(app.services, document, actor=local_actor().label)
        except ValueError as exc:
            fail(str(exc))
    console.print(f"assignment set: {len(policy.rules)} rule(s) for {', '.join(policy.queues)} tasks")


def register(app: typer.Typer) -> None:
    app.add_typer(persona_app, name="persona")
    app.add_typer(assignment_app, name="assignment")
