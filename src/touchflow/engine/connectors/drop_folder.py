"""The ``drop_folder`` kind: CSV, .xlsx and JSON Lines files put in a folder are imported once each, through the
file importer (every encoding and header it reads), then moved with their reject and warning files to ``done/`` —
or, when the file cannot be read at all, to ``failed/`` with a ``.error.txt`` saying why.

dlt's filesystem source is not used: the importer already streams a file row by row with its reject file, and
going through dlt would read each file twice for nothing (ADR 0035). A writer should write under a dot-name or a
``.part`` / ``.tmp`` suffix and rename when done: those are never picked up. A run killed mid-file leaves the file
in place; the next run imports it again, which stores nothing twice (imports are idempotent).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from touchflow.engine.connectors.kinds import SourceRequest, register_kind
from touchflow.engine.connectors.outcome import RunContext, RunFailed, RunOutcome
from touchflow.engine.connectors.pipeline import source_name
from touchflow.engine.importer import default_rejects_path, import_file, short_reason, warnings_path
from touchflow.engine.readers import MappingError, ReadError

__all__ = ["SUFFIXES", "folder_of", "pending_files", "run_drop_folder"]

SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".xlsx", ".jsonl", ".ndjson"})
_IGNORED = (".part", ".tmp", ".rejects.csv", ".warnings.csv")


def folder_of(request: SourceRequest) -> Path:
    raw = request.settings.get("path")
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("settings.path: the folder files are dropped into")
    return Path(raw).expanduser()


def pending_files(folder: Path) -> list[Path]:
    """Files waiting, oldest name first (so 2026-01-01.csv goes before 2026-01-02.csv)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in SUFFIXES and not p.name.lower().endswith(_IGNORED))


def _move(path: Path, target_dir: Path) -> Path:
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    n = 1
    while target.exists():  # the same name dropped again: keep both
        n += 1
        target = target_dir / f"{path.stem} ({n}){path.suffix}"
    shutil.move(str(path), target)
    return target


def run_drop_folder(run: RunContext) -> RunOutcome:
    folder = folder_of(run.request)
    if not folder.is_dir():
        raise RunFailed(f"settings.path: {folder} is not a folder")
    connector = run.connector
    if connector.record_kind == "events" and "type" not in connector.mapping:
        raise RunFailed("event_type: a drop folder reads the type from a column: --map type=COLUMN")
    outcome = RunOutcome()
    done: list[str] = []
    failed: list[str] = []
    for path in pending_files(folder):
        rejects = default_rejects_path(path)
        try:
            report = import_file(run.ctx, path, connector.record_kind, source_name(run), connector.mapping or None,
                                 rejects, batch_size=run.batch_size, route=run.route)
        except (ReadError, MappingError, ValueError, OSError) as exc:
            moved = _move(path, folder / "failed")
            moved.with_name(moved.name + ".error.txt").write_text(f"{exc}\n", encoding="utf-8")
            failed.append(path.name)
            outcome.warnings.append(f"{path.name}: {exc}")
            continue
        outcome.read += report.read
        outcome.rejected += report.rejected
        outcome.accepted += report.read - report.rejected
        for reason, count in report.reject_reasons.most_common(3):
            outcome.warnings.append(f"{path.name}: {count} row(s) rejected: {short_reason(reason)}")
        target = folder / "done"
        _move(path, target)
        for extra in (rejects, warnings_path(rejects)):
            if extra.exists():
                _move(extra, target)
        done.append(path.name)
    outcome.details = {"done": list(done), "failed": list(failed)}
    if failed:
        raise RunFailed(f"{len(failed)} file(s) could not be imported (moved to failed/): {', '.join(failed)}",
                        outcome)
    return outcome


def _test(request: SourceRequest) -> None:
    folder = folder_of(request)
    if not folder.is_dir():
        raise ValueError(f"settings.path: {folder} is not a folder")


register_kind("drop_folder", None, required_settings=("path",), test=_test, runner=run_drop_folder)
