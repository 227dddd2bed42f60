"""``touchflow journey dry-run KEY --contact REF [--file DRAFT.yaml] [--json]``: the builder's dry run.

The same ``engine.dry_run`` the canvas calls: one real contact through the draft (or a file) in the sandbox, in
virtual time. The database is only read; exit 2 names the field at fault.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from touchflow.bootstrap import open_sandbox
from touchflow.cli.common import console, fail, open_app, print_json
from touchflow.domain.errors import FieldError
from touchflow.domain.safe_yaml import YamlTooLarge
from touchflow.engine.dry_run import dry_run
from touchflow.services.journeys import JourneyError

__all__ = ["dry_run_command"]


def dry_run_command(
    key: Annotated[str, typer.Argument(help="journey key")],
    contact: Annotated[str, typer.Option("--contact", help="the contact: kind:value (email:…), an id, or an e-mail")],
    file: Annotated[Path | None, typer.Option("--file", help="journey YAML to run, not the draft")] = None,
    days: Annotated[float, typer.Option("--days", help="virtual days to run", min=0.0001, max=366)] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Step one contact through the journey's draft in virtual time: no sends, no writes."""
    text = None
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--file: cannot read {file}: {getattr(exc, 'strerror', None) or exc}")
    with open_app() as application:
        try:
            result = dry_run(application.services, key, contact, open_store=open_sandbox, text=text,
                             duration=timedelta(days=days))
        except FieldError as exc:
            fail(f"{'--contact' if exc.field == 'contact' else exc.field}: {exc.reason}")
        except (JourneyError, YamlTooLarge) as exc:
            fail(str(exc))
    if as_json:
        print_json(result.to_json())
        return
    table = Table(title=f"dry run of {key} for {contact} (status: {result.status}; nothing sent or written)")
    for column in ("at", "node", "kind", "outcome", "detail"):
        table.add_column(column)
    nodes = result.nodes()
    for step in result.steps:
        detail = ", ".join(f"{k}={v}" for k, v in (step["detail"] or {}).items())
        outcome = nodes[step["node"]]["badge"] if step["kind"] in ("send", "webhook") else step["edge"] or ""
        table.add_row(f"+{step['offset']}", step["node"], step["kind"], outcome, detail[:80])
    console.print(table)
