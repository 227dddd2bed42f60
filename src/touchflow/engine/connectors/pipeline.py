"""A dlt pipeline whose destination is Touchflow's own ingest, so connector rows are normalised, resolved, rejected
and traced exactly like imported ones (ADR 0035).

dlt extracts the kind's rows to its working directory (a temporary one per run: the cursor that counts is the one
committed in Touchflow's database, never dlt's state), then the columns seen are checked against the mapping (a
removed mapped column fails the run before anything is stored; a new one is a warning), then dlt normalises and
loads: every batch of the custom destination goes through ``upsert_contacts`` / ``record_events`` in its own
transaction, and only after that commit does the connector's cursor move to the batch's greatest cursor value.
A run killed between the two replays that batch next time: ingest is idempotent (contacts compare values, events
derive stable ids), so nothing is stored twice and nothing is skipped.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from touchflow.domain.connectors import Connector
from touchflow.domain.events import JSONValue
from touchflow.engine.connectors.kinds import SourceRequest
from touchflow.engine.connectors.outcome import RunContext, RunFailed, RunOutcome
from touchflow.engine.importer import ANALYZE_AFTER, payload_builder, short_reason
from touchflow.engine.readers import MappingError
from touchflow.services.context import ServiceContext
from touchflow.services.ingest import RawItem, record_events, upsert_contacts

__all__ = ["ingest_rows", "json_value", "run_pipeline", "source_name"]

_KEEP_ALIVE_ROWS = 100_000
_TABLE_LIMIT = 16  # resources of one source a connector may read (they all land in the same record kind)


def json_value(value: object) -> JSONValue:
    """A source value as JSON: datetimes as ISO 8601 (their zone kept), decimals as int or text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _cell(value: object) -> JSONValue:
    """A value as a CSV import hands it over: text (numbers too, so a numeric order id fits a text property and the
    catalogue's number coercion applies as for a file), nested JSON left as it is (properties)."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, int | float | Decimal):
        return str(json_value(value))
    return json_value(value)


def source_name(run: RunContext) -> str:
    """The source the rows are counted against: ``settings.source`` or the connector's name."""
    name = run.connector.settings.get("source")
    return name if isinstance(name, str) and name.strip() else run.connector.name


class _Columns:
    """Counts rows and notes the columns seen while dlt extracts (cheap: keys are compared only when they change);
    renews the run's lease every ``_KEEP_ALIVE_ROWS`` rows, as a long read commits nothing."""

    def __init__(self, keep_alive: Callable[[], None] | None) -> None:
        self.read = 0
        self.seen: dict[str, None] = {}
        self._last: object = None
        self._keep_alive = keep_alive

    def __call__(self, row: Any) -> Any:
        self.read += 1
        if self._keep_alive is not None and self.read % _KEEP_ALIVE_ROWS == 0:
            self._keep_alive()
        if isinstance(row, Mapping):
            keys = row.keys()
            if keys != self._last:
                for key in keys:
                    self.seen.setdefault(str(key), None)
                self._last = tuple(keys)
        return row


class _Sink:
    """The custom destination's state for one run: payload builder, counts and the committed cursor."""

    def __init__(self, run: RunContext, outcome: RunOutcome, columns: list[str]) -> None:
        self.run = run
        self.outcome = outcome
        connector = run.connector
        self.kind = connector.record_kind
        try:
            self.build = payload_builder(self.kind, columns, connector.mapping or None)
        except MappingError as exc:
            raise RunFailed(f"mapping: {exc}", outcome) from None
        self.cursor = connector.cursor
        self.best: Any = None  # greatest cursor value committed (or seen, once out of order)
        self.in_order = True
        self.rows = 0
        self.source = source_name(run)
        self.batches = 0

    def __call__(self, items: Sequence[Mapping[str, Any]], table: Mapping[str, Any]) -> None:
        entries: list[RawItem] = []
        low: Any = None
        high: Any = None
        for values in items:
            self.rows += 1
            cells = {k: _cell(v) for k, v in values.items()}
            payload = self.build(cells)
            if self.kind == "events" and self.run.connector.event_type and not payload.get("type"):
                payload["type"] = self.run.connector.event_type
            entries.append(RawItem(payload, self.rows, cells))  # the row as handed to ingest: kept with a reject
            if self.cursor is not None:
                value = values.get(self.cursor)
                if value is not None:
                    low = value if low is None or value < low else low
                    high = value if high is None or value > high else high
        self._ingest(entries)
        if high is None:
            return
        if self.best is not None and low is not None and low < self.best and self.in_order:
            self.in_order = False  # batches out of cursor order: move the cursor only when the whole run is done
            self.outcome.warnings.append("rows arrived out of cursor order: the cursor moves at the end of the run")
        if self.best is None or high > self.best:
            self.best = high
        if self.in_order:
            self.run.commit_cursor(json_value(self.best), None)

    def _ingest(self, entries: list[RawItem]) -> None:
        if not entries:
            return
        self.batches += 1
        if self.kind == "contacts":
            report = upsert_contacts(self.run.ctx, self.source, entries)
            problems = report.rejected
            for warning in report.warnings[:20 - min(20, len(self.outcome.warnings))]:
                self.outcome.warnings.append(f"row {warning.row}: {short_reason(str(warning))}")
        else:
            events = record_events(self.run.ctx, self.source, entries, route=self.run.route)
            problems = events.rejected
            duplicates = self.outcome.details.get("duplicates", 0)
            self.outcome.details["duplicates"] = cast(int, duplicates) + events.duplicates
        self.outcome.rejected += len(problems)
        self.outcome.accepted += len(entries) - len(problems)
        if self.batches in ANALYZE_AFTER:  # as the importer does: plans fit the tables' real size (ADR 0013)
            with self.run.ctx.uow() as uow:
                uow.contacts.refresh_statistics()
                uow.commit()


def _check_columns(run: RunContext, seen: Sequence[str], outcome: RunOutcome) -> None:
    """A mapped (or cursor) column gone from the source fails the run, naming it; a new column is a warning."""
    connector = run.connector
    present = set(seen)
    for target, column in connector.mapping.items():
        if column not in present:
            raise RunFailed(f"column {column!r} (mapped to {target}) is no longer in the source; its columns are: "
                            f"{', '.join(seen)}. Fix the source or the connector's mapping", outcome)
    if connector.cursor is not None and connector.cursor not in present:
        raise RunFailed(f"cursor column {connector.cursor!r} is not in the source; its columns are: "
                        f"{', '.join(seen)}", outcome)
    if connector.columns:
        known = set(connector.columns)
        added = [c for c in seen if c not in known]
        if added:
            outcome.warnings.append(f"new column(s) in the source: {', '.join(added)} (stored as custom fields or "
                                    "properties unless mapped)")


def _remove_stale(parent: Path, prefix: str) -> None:
    """dlt's files of a run whose process died (SIGKILL) hold personal data: removed before the next run."""
    for stale in parent.glob(f"{prefix}*"):
        pid = stale.name[len(prefix):].partition("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(stale, ignore_errors=True)
        except PermissionError:
            continue


def _unwrap(exc: BaseException) -> BaseException:
    """What the destination or the source raised, out of dlt's wrappers (PipelineStepFailed → job failed → …)."""
    from dlt.common.exceptions import DltException

    while isinstance(exc, DltException):
        inner = getattr(exc, "exception", None) or exc.__cause__ or exc.__context__
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return exc


def run_pipeline(run: RunContext, resource: Any) -> RunOutcome:
    """Pull ``resource`` (a dlt resource or source of dict rows) into ingest; raises RunFailed or the source's own
    error (unwrapped from dlt's) for the runner to record and, when transient, retry."""
    import dlt  # here, not at import: every CLI command would pay dlt's ~1 s import otherwise

    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"  # no network here, and none wanted: nothing leaves the host
    os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")  # files live for one run: gzip is pure cost
    logging.getLogger("dlt").setLevel(logging.ERROR)  # dlt's schema notes; what matters is on the run
    outcome = RunOutcome(cursor_after=run.connector.cursor_value)
    columns = _Columns(run.keep_alive)
    resources = list(resource.selected_resources.values()) if hasattr(resource, "selected_resources") else [resource]
    if len(resources) > _TABLE_LIMIT:
        raise RunFailed(f"the source has {len(resources)} tables; a connector reads at most {_TABLE_LIMIT}")
    for item in resources:
        item.add_map(columns)
    state: dict[str, _Sink] = {}

    def load(items: Any, table: Any) -> None:
        state["sink"](items, table)

    destination = dlt.destination(load, name="touchflow_ingest", batch_size=run.batch_size,
                                  loader_file_format="typed-jsonl", naming_convention="direct",
                                  skip_dlt_columns_and_tables=True, max_table_nesting=0,
                                  loader_parallelism_strategy="sequential")
    work = run.work_dir
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
    prefix = f"tf-connector-{run.connector.name}-"
    _remove_stale(Path(work or tempfile.gettempdir()), prefix)
    with tempfile.TemporaryDirectory(prefix=f"{prefix}{os.getpid()}-", dir=work) as tmp:
        pipeline = dlt.pipeline(pipeline_name=f"tf_{run.connector.name.replace('-', '_')}", pipelines_dir=tmp,
                                destination=destination(), dataset_name="touchflow")
        try:
            pipeline.extract(resource)
            outcome.read = columns.read
            seen = list(columns.seen)
            if columns.read:
                _check_columns(run, seen, outcome)
                outcome.columns = seen
            state["sink"] = sink = _Sink(run, outcome, seen)
            pipeline.normalize()
            pipeline.load()
        except Exception as exc:  # dlt's wrapper says little; the cause names the column, the row, the server
            cause = _unwrap(exc)
            if isinstance(cause, RunFailed):
                cause.outcome = outcome
                raise cause from None
            raise cause from exc
    if sink.best is not None:
        outcome.cursor_after = json_value(sink.best)
        run.commit_cursor(outcome.cursor_after, outcome.columns)
    elif outcome.columns is not None:
        run.commit_cursor(outcome.cursor_after, outcome.columns)
    return outcome


def ingest_rows(ctx: ServiceContext, connector: Connector, rows: Sequence[Mapping[str, Any]], *,
                route: bool = True) -> RunOutcome:
    """Rows that arrived without a pull (an inbound webhook's body): the connector's mapping, record kind and the
    same ingest as a run's batch, in one call; no cursor, no run record (the caller records what it needs).
    Raises RunFailed when the mapping names a column none of the rows has."""
    columns = list(dict.fromkeys(str(k) for row in rows for k in row))
    request = SourceRequest(connector.name, connector.settings, {}, None, None, connector.record_kind)
    run = RunContext(ctx, replace(connector, cursor=None), request, lambda _value, _columns: None,
                     max(1, len(rows)), None, route=route)
    outcome = RunOutcome(read=len(rows))
    if rows:
        _check_columns(run, columns, outcome)
        _Sink(run, outcome, columns)(rows, {})
    return outcome
