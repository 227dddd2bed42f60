"""``touchflow journey format FILE… [--check] [--json]``: a journey file through the builder's save path.

The canvas saves through ``journey_document.format_text``; running the same code over the files in
version control keeps them in the shape the builder writes, so a save from the canvas never shows up as
a diff of whitespace. Comments and key order survive.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from touchflow.cli.common import console, fail, print_json
from touchflow.domain.journeys.document import format_text, version_token
from touchflow.domain.journeys.parse import DefinitionError
from touchflow.domain.safe_yaml import YamlTooLarge

__all__ = ["format_command"]

Files = Annotated[list[Path], typer.Argument(help="journey definitions to rewrite in place ('-': stdin to stdout)")]
Check = Annotated[bool, typer.Option("--check", help="change nothing; exit 1 when a file would change")]
JsonOpt = Annotated[bool, typer.Option("--json", help="one JSON object")]


def _one(path: Path, check: bool) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
    try:
        formatted = format_text(text)
    except (DefinitionError, YamlTooLarge) as exc:
        fail(f"{path}: {exc}")
    changed = formatted != text
    if str(path) == "-":
        if not check:
            sys.stdout.write(formatted)
    elif changed and not check:
        path.write_text(formatted, encoding="utf-8")
    return {"file": str(path), "changed": changed, "token": version_token(formatted)}


def format_command(files: Files, check: Check = False, as_json: JsonOpt = False) -> None:
    """Rewrite journey files through the builder's save path (ruamel round trip: comments and order kept)."""
    results = [_one(path, check) for path in files]
    changed = [r for r in results if r["changed"]]
    if as_json:
        print_json({"files": results, "changed": len(changed), "check": check})
    elif not any(str(p) == "-" for p in files):
        verb = "would change" if check else "changed"
        for result in changed:
            console.print(f"{verb}: {result['file']}")
        console.print(f"{len(results)} file(s), {len(changed)} {verb}")
    if check and changed:
        raise typer.Exit(1)
