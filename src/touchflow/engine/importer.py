"""Streaming import of a contacts or events file, in batches, with a reject file next to it.

Rows are read one at a time and handed to the ingest services ``batch_size`` at a time, so memory
stays flat whatever the file size. Every row ends up stored or in the reject file with its row
number and reason: nothing is lost. Re-importing a file changes nothing, because the services
compare values (contacts) and derive stable ids (events).
"""

from __future__ import annotations

import collections
import csv
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, cast

import orjson

from touchflow.domain.csv_cells import neutralise
from touchflow.domain.events import JSONValue
from touchflow.domain.limits import clip_json
from touchflow.engine.readers import (
    Kind,
    MalformedRow,
    canonical_field,
    canonical_headers,
    mapped_fields,
    open_rows,
)
from touchflow.services.context import ServiceContext
from touchflow.services.ingest import ItemProblem, RawItem, record_events, upsert_contacts
from touchflow.services.sources import record_import_run

__all__ = ["ANALYZE_AFTER", "ImportReport", "default_rejects_path", "file_digest", "import_file", "payload_builder",
           "short_reason", "warnings_path"]

ANALYZE_AFTER = frozenset(4 ** n for n in range(12))  # batch numbers: 1, 4, 16, 64 …
_COMBINED = ("phone", "email")  # several columns may each hold one; the domain splits on ";"
_PROPERTY = "properties."


@dataclass
class ImportReport:
    read: int
    created: int
    updated: int
    merged: int
    rejected: int
    warnings: int
    rejects_file: Path | None
    reject_reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    duplicates: int = 0
    contacts_created: int = 0
    field_filled: dict[str, int] = field(default_factory=dict)
    warning_reasons: collections.Counter[str] = field(default_factory=collections.Counter)
    warnings_file: Path | None = None  # rows stored with a field left out, and why


def file_digest(path: Path) -> str | None:
    """What makes "the same file": its bytes. Between two rows of one file, the later row wins (ADR 0013)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None  # open_rows reports it
    return digest.hexdigest()[:16]


def default_rejects_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.rejects.csv")


def warnings_path(rejects: Path) -> Path:
    """Next to the reject file: ``crm.rejects.csv`` → ``crm.warnings.csv``."""
    name = rejects.name
    stem = name[:-len(".rejects.csv")] if name.endswith(".rejects.csv") else rejects.stem
    return rejects.with_name(f"{stem}.warnings.csv")


_VALUE_START = re.compile(r"""\s*(?::\s*(?=['"\d-])|,?\s*got\b|['"])""")


def short_reason(reason: str) -> str:
    """A reason without the row's own value, so that equal problems count together."""
    parts = []
    for part in reason.split("; "):
        match = _VALUE_START.search(part)
        parts.append((part[:match.start()] if match else part).rstrip(" :,"))
    return "; ".join(p for p in parts if p) or reason


class _RejectWriter:
    """The reject (or warnings) CSV (UTF-8 with BOM, for Excel), opened on the first row only."""

    def __init__(self, path: Path, headers: list[str], as_json: bool) -> None:
        self.path = path
        self._headers = headers
        self._as_json = as_json
        self._fh: IO[str] | None = None
        self._writer: Callable[[list[object]], object] | None = None

    @property
    def used(self) -> bool:
        return self._fh is not None

    def write(self, row: int, reason: str, original: Mapping[str, object], raw: str | None) -> None:
        if self._writer is None:
            self._fh = self.path.open("w", encoding="utf-8-sig", newline="")
            writer = csv.writer(self._fh).writerow
            # People open this file in Excel/WPS: a cell like "=HYPERLINK(...)" must stay text (csv_cells).
            self._writer = lambda cells: writer([neutralise(c) for c in cells])
            columns = ["original"] if self._as_json else self._headers
            self._writer(["row_number", "reason", *columns])
        if self._as_json:
            text = raw if raw is not None else _dumps(original)
            self._writer([row, reason, text])
            return
        known = set(self._headers)
        cells = [original.get(h) for h in self._headers] + [v for k, v in original.items() if k not in known]
        self._writer([row, reason, *cells])

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


@dataclass
class _Entry:
    row: int
    values: Mapping[str, object]
    item: RawItem | None  # None for a malformed row
    reason: str = ""


class _Batch:
    """Rows waiting to be sent; a flush stores them and writes the rejects in row order."""

    def __init__(self, ctx: ServiceContext, kind: Kind, source: str, report: ImportReport,
                 rejects: _RejectWriter, warned: _RejectWriter, route: bool = False) -> None:
        self.ctx, self.kind, self.source, self.report, self.rejects = ctx, kind, source, report, rejects
        self.warned = warned
        self.route = route
        self.entries: list[_Entry] = []
        self.flushed = 0

    def flush(self) -> None:
        if not self.entries:
            return
        self.flushed += 1
        sent = [e for e in self.entries if e.item is not None]
        items = [e.item for e in sent if e.item is not None]
        problems: list[ItemProblem] = []
        if items and self.kind == "contacts":
            contact_report = upsert_contacts(self.ctx, self.source, items)
            self.report.created += contact_report.created
            self.report.updated += contact_report.updated
            self.report.merged += contact_report.merged
            self.report.warnings += len(contact_report.warnings)
            self.report.warning_reasons.update(short_reason(str(w)) for w in contact_report.warnings)
            problems = contact_report.rejected
            by_row: dict[int, list[str]] = collections.defaultdict(list)
            for warning in contact_report.warnings:
                by_row[warning.index].append(str(warning))
            for index, reasons in sorted(by_row.items()):
                entry = sent[index]
                self.warned.write(entry.row, "; ".join(reasons), entry.values, None)
        elif items:
            event_report = record_events(self.ctx, self.source, items, route=self.route)
            self.report.created += event_report.accepted
            self.report.duplicates += event_report.duplicates
            self.report.contacts_created += event_report.contacts_created
            self.report.merged += event_report.merged
            problems = event_report.rejected
        for problem in problems:
            sent[problem.index].reason = str(problem)
        malformed = [e for e in self.entries if e.item is None]
        if malformed:
            self._keep_malformed(malformed)
        for entry in self.entries:
            if entry.reason:
                self.report.rejected += 1
                self.report.reject_reasons[short_reason(entry.reason)] += 1
                raw = entry.values.raw if isinstance(entry.values, MalformedRow) else None
                self.rejects.write(entry.row, entry.reason, entry.values, raw)
        self.entries = []
        if self.flushed in ANALYZE_AFTER:
            self._refresh_statistics()

    def _refresh_statistics(self) -> None:
        """A first import into an empty database grows the contact tables from nothing: refresh their planner
        statistics after batches 1, 4, 16, 64 … so later batches are planned for their real size (ADR 0013)."""
        with self.ctx.uow() as uow:
            uow.contacts.refresh_statistics()
            uow.commit()

    def _keep_malformed(self, entries: list[_Entry]) -> None:
        """Rows the services never saw are kept in the rejects table too, like theirs (once: not again when the
        file is imported again)."""
        now = self.ctx.clock.now()
        kind = self.kind.removesuffix("s")
        with self.ctx.uow() as uow:
            kept = {(row, reason, orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)) for row, reason, payload
                    in uow.rejects.existing(kind, self.source, [e.row for e in entries])}
            for entry in entries:
                raw = entry.values.raw if isinstance(entry.values, MalformedRow) else None
                payload: JSONValue = raw if raw is not None else _jsonable(entry.values)
                if (entry.row, entry.reason, orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)) not in kept:
                    uow.rejects.add(kind, self.source, entry.row, payload, entry.reason, now)
            uow.commit()


def _jsonable(values: Mapping[str, object]) -> JSONValue:
    return cast(JSONValue, orjson.loads(orjson.dumps(dict(values), default=str)))


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == [] or value == {}


def _put(payload: dict[str, object], name: str, value: object) -> None:
    """One value into the payload: empty counts as missing; a repeated field keeps the first value."""
    if type(value) is str:  # most values: the checks below, for text
        if not value or value.isspace():
            return
    else:
        if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
            value = ", ".join(str(v) for v in value if not _is_empty(v))
        if _is_empty(value):
            return
    if name not in payload:
        payload[name] = value
    elif name in _COMBINED:
        payload[name] = f"{payload[name]};{value}"


class _Fields:
    """Header -> canonical field, with keys first seen late in a JSON Lines file resolved on the way."""

    def __init__(self, headers: list[str], kind: Kind, mapping: Mapping[str, str] | None) -> None:
        self.kind = kind
        self._known = canonical_headers(headers, kind, mapping)
        self._taken = mapped_fields(kind, mapping)

    def __call__(self, header: str) -> str:
        found = self._known.get(header)
        if found is None:
            found = self._known[header] = canonical_field(header, self.kind, self._taken)
        return found


def _contact_payload(values: Mapping[str, object], fields: _Fields) -> dict[str, object]:
    payload: dict[str, object] = {}
    for header, value in values.items():
        if isinstance(value, dict):  # JSON Lines: {"consent": {"email": "granted"}} -> consent.email
            for key, inner in value.items():
                _put(payload, fields(f"{header}.{key}"), inner)
        else:
            _put(payload, fields(header), value)
    return payload


def _event_payload(values: Mapping[str, object], fields: _Fields) -> dict[str, object]:
    payload: dict[str, object] = {}
    properties: dict[str, object] = {}
    for header, value in values.items():
        name = fields(header)
        if name.startswith(_PROPERTY):
            if not _is_empty(value):
                properties.setdefault(name[len(_PROPERTY):], value)
        elif name in ("properties", "contact") and isinstance(value, str) and value.strip():
            try:
                payload[name] = orjson.loads(value)  # a CSV cell holding a JSON object
            except orjson.JSONDecodeError:
                payload[name] = value
        else:
            _put(payload, name, value)
    if properties and "properties" not in payload:
        payload["properties"] = properties
    return payload


def import_file(ctx: ServiceContext, path: Path, kind: Literal["contacts", "events"], source: str,
                mapping: Mapping[str, str] | None = None, rejects_path: Path | None = None,
                progress: Callable[[int, int], None] | None = None, batch_size: int = 2000,
                route: bool = False, *, actor: str | None = None) -> ImportReport:
    """Import one file; raises ``ReadError`` (file, format) or ``MappingError`` before storing anything.

    Imported events are history: they reach journey triggers only with ``route=True``.

    Row numbers are those a spreadsheet shows: for CSV and .xlsx the header is row 1 and data starts
    at row 2; for JSON Lines they are line numbers. ``actor``: who imports (a person at the CLI): one audit
    row sums up the run.
    """
    if kind not in ("contacts", "events"):
        raise ValueError(f"kind must be 'contacts' or 'events', got {kind!r}")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    path = Path(path)
    report = ImportReport(0, 0, 0, 0, 0, 0, None)
    build = _contact_payload if kind == "contacts" else _event_payload
    digest = file_digest(path) if kind == "contacts" else None
    with open_rows(path) as rows:
        fields = _Fields(rows.headers, kind, mapping)
        target = Path(rejects_path) if rejects_path is not None else default_rejects_path(path)
        if target.resolve() == path.resolve():
            raise ValueError(f"the reject file cannot be the input file: {target}")
        writer = _RejectWriter(target, rows.headers, as_json=rows.format == "jsonl")
        warned = _RejectWriter(warnings_path(target), rows.headers, as_json=rows.format == "jsonl")
        batch = _Batch(ctx, kind, source, report, writer, warned, route)
        try:
            for number, values in rows:
                report.read += 1
                if isinstance(values, MalformedRow):
                    batch.entries.append(_Entry(number, values, None, values.reason))
                else:
                    payload = build(values, fields)
                    for name in payload:
                        report.field_filled[name] = report.field_filled.get(name, 0) + 1
                    original = cast(JSONValue, values)  # text cells, or JSON as parsed
                    batch.entries.append(_Entry(number, values, RawItem(payload, number, original, digest)))
                if len(batch.entries) >= batch_size:
                    batch.flush()
                    if progress is not None:
                        progress(rows.bytes_read(), rows.total_bytes)
            batch.flush()
        finally:
            writer.close()
            warned.close()
        report.rejects_file = writer.path if writer.used else None
        report.warnings_file = warned.path if warned.used else None
        if progress is not None:
            progress(rows.total_bytes, rows.total_bytes)
    if actor is not None:
        record_import_run(ctx, actor=actor, kind=kind, source=source, file=path.name,
                          digest=digest if digest is not None else file_digest(path),
                          counts={"read": report.read, "created": report.created, "updated": report.updated,
                                  "merged": report.merged, "rejected": report.rejected, "warnings": report.warnings,
                                  "duplicates": report.duplicates, "routed": route})
    return report


def _dumps(original: Mapping[str, object]) -> str:
    try:
        return orjson.dumps(original, default=str).decode()
    except TypeError:  # nested past orjson's limit or a wide integer: what made the row a reject
        return orjson.dumps(clip_json(original), default=str).decode()


def payload_builder(kind: Kind, headers: list[str], mapping: Mapping[str, str] | None
                    ) -> Callable[[Mapping[str, object]], dict[str, object]]:
    """What the importer makes of one row (header recognition, ``--map``, properties), for rows that arrive
    from elsewhere (connectors); ``MappingError`` as for a file when the mapping names a missing column."""
    fields = _Fields(headers, kind, mapping)
    build = _contact_payload if kind == "contacts" else _event_payload
    return lambda values: build(values, fields)
