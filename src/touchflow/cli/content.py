"""``touchflow check-content FILE|-``: Advertising-Law (广告法) findings in a piece of copy (G4)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from touchflow.cli.common import console, fail, print_json
from touchflow.domain.guardrails.compliance import (
    ComplianceScanner,
    Finding,
    TermList,
    TermListError,
    blocking,
    default_terms,
    load_terms,
)
from touchflow.domain.safe_yaml import YamlTooLarge

__all__ = ["check_content", "register"]

_INVISIBLE = {0x200B: "\\u200b", 0x200C: "\\u200c", 0x200D: "\\u200d", 0x2060: "\\u2060", 0xFEFF: "\\ufeff",
              0x00AD: "\\xad", ord("\n"): "⏎", ord("\t"): "\\t"}


def _decode(data: bytes, name: str) -> str:
    """UTF-8 (with or without BOM) first; Chinese Windows tools still save GB18030/GBK."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    fail(f"cannot read {name}: neither UTF-8 nor GB18030")


def _read(path: Path) -> str:
    if str(path) == "-":
        stream = getattr(sys.stdin, "buffer", None)
        return _decode(stream.read(), "standard input") if stream is not None else sys.stdin.read()
    try:
        return _decode(path.read_bytes(), str(path))
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")


def _terms(path: Path | None) -> TermList:
    if path is None:
        return default_terms()
    try:
        return load_terms(_read(path))
    except (TermListError, YamlTooLarge) as exc:
        fail(f"term list {path}: {exc}")


def _line_column(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f"{line}:{offset - (text.rfind(chr(10), 0, offset) + 1) + 1}"


def _render(text: str, findings: list[Finding]) -> None:
    if not findings:
        console.print("[green]no findings[/green]")
        return
    table = Table("at", "severity", "found", "term", "category", "article")
    for f in findings:
        colour = "red" if f.severity == "block" else "yellow"
        table.add_row(_line_column(text, f.start), f"[{colour}]{f.severity}[/{colour}]",
                      escape(f.matched.translate(_INVISIBLE)), escape(f.term), f.category, escape(f.article))
    console.print(table)
    blocked = len(blocking(findings))
    summary = f"{len(findings)} finding(s), {blocked} blocking"
    console.print(f"[red]{summary}[/red]" if blocked else f"[yellow]{summary}[/yellow]")


def check_content(
    file: Annotated[Path, typer.Argument(help="the copy, UTF-8 or GB18030 ('-' for standard input)")],
    as_json: Annotated[bool, typer.Option("--json", help="a JSON list of findings")] = False,
    terms: Annotated[Path | None, typer.Option("--terms", help="a custom term list (YAML or JSON)")] = None,
) -> None:
    """Find Advertising-Law terms (最佳, 国家级, 保本 …) even when spaced, hyphenated, full-width or traditional.

    Exit status: 1 when a blocking finding exists, 0 otherwise, 2 when the file or term list is unusable.
    """
    term_list = _terms(terms)
    text = _read(file)
    findings = ComplianceScanner(term_list).scan(text)
    if as_json:
        print_json([f.document() for f in findings])
    else:
        _render(text, findings)
    if blocking(findings):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("check-content")(check_content)
