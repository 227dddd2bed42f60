"""The source registry (D1, P1): register a source, read the sync counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from touchflow.domain.events import JSONValue
from touchflow.domain.sources import DEFAULT_PRIORITIES, SOURCE_KINDS, Source
from touchflow.domain.unit_of_work import UnitOfWork
from touchflow.services.context import ServiceContext

__all__ = ["list_sources", "record_import_run", "register_source", "with_run_counts"]


def register_source(ctx: ServiceContext, name: str, *, kind: str, priority: int | None, sync_mode: str,
                    actor: str) -> Source:
    if kind not in SOURCE_KINDS:
        raise ValueError(f"kind: unknown source kind {kind!r} (one of {', '.join(SOURCE_KINDS)})")
    if sync_mode not in ("realtime", "daily"):
        raise ValueError(f"sync: must be realtime or daily, got {sync_mode!r}")
    if not name.strip() or len(name) > 100:
        raise ValueError("name: 1-100 characters")
    now = ctx.clock.now()
    source = Source(name.strip(), kind, DEFAULT_PRIORITIES[kind] if priority is None else priority,
                    "realtime" if sync_mode == "realtime" else "daily")
    with ctx.uow() as uow:
        uow.sources.save(source)
        uow.audit.record(actor, "source.register", source.name,
                         {"kind": kind, "priority": source.priority, "sync_mode": source.sync_mode}, now)
        uow.commit()
    return source


def record_import_run(ctx: ServiceContext, *, actor: str, kind: str, source: str, file: str,
                      digest: str | None, counts: Mapping[str, JSONValue]) -> None:
    """One audit row per import run (never one per row): who loaded which file (name, sha256) into which source,
    and what came of it. Written after the run, whose batches commit on their own."""
    with ctx.uow() as uow:
        uow.audit.record(actor, f"import.{kind}", source, {"file": file, "sha256": digest, **counts},
                         ctx.clock.now())
        uow.commit()


def list_sources(ctx: ServiceContext) -> list[Source]:
    """Every source; one fed by connectors carries their run counts (its success rate comes from runs)."""
    with ctx.reader() as uow:
        return with_run_counts(uow, uow.sources.all())


def with_run_counts(uow: UnitOfWork, sources: Sequence[Source]) -> list[Source]:
    """``sources`` with the finished and succeeded runs of the connectors feeding each (``settings.source``, else
    the connector's own name): ``Source.success_rate`` is then the share of runs that succeeded (A6)."""
    feeds = {c.name: _fed_source(c.name, c.settings.get("source")) for c in uow.connectors.all()}
    runs: dict[str, tuple[int, int]] = {}
    for connector, (total, ok) in uow.connectors.run_counts().items():
        name = feeds.get(connector, connector)
        before = runs.get(name, (0, 0))
        runs[name] = (before[0] + total, before[1] + ok)
    return [replace(s, sync_runs=runs[s.name][0], sync_runs_ok=runs[s.name][1]) if s.name in runs else s
            for s in sources]


def _fed_source(connector: str, setting: object) -> str:
    return setting.strip() if isinstance(setting, str) and setting.strip() else connector
