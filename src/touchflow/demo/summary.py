"""The demo run: sample data in, the four imports a real customer would do, a data-quality picture out.

The order is the one a customer follows: the CRM first (the system of record), then the shop's
customer list, then web tracking and orders, whose identities join visitors and buyers to the
contacts already known. Everything is re-runnable: a second run finds every contact and event
already stored and creates nothing.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from touchflow.demo.sample_data import SampleFiles, write_sample_data
from touchflow.domain.duplicates import DuplicateSuggestion
from touchflow.engine.importer import ImportReport, import_file
from touchflow.services.context import ServiceContext
from touchflow.services.quality import QualityOverview, quality_overview

__all__ = ["PLAN", "SOURCE_FIELDS", "DemoImport", "DemoResult", "ImportStep", "ProgressFn", "run_demo"]

SAMPLE_DIR = "sample-data"
# Fields shown in the completeness table: identifiers first, then standard attributes.
SOURCE_FIELDS = ("name", "phone", "email", "crm_id", "company", "industry", "job_title", "city", "province",
                 "gender", "age", "tags")
DUPLICATE_LIMIT = 500


@dataclass(frozen=True)
class ImportStep:
    sample: str  # key in sample_data.FILES
    kind: Literal["contacts", "events"]
    source: str
    label: str


PLAN = (
    ImportStep("crm", "contacts", "crm", "CRM contacts (GBK, Chinese headers)"),
    ImportStep("shop_customers", "contacts", "ecommerce", "shop customers (UTF-8 with BOM)"),
    ImportStep("web_events", "events", "website", "web events (JSON Lines)"),
    ImportStep("shop_orders", "events", "ecommerce", "shop orders (UTF-8)"),
)


@dataclass(frozen=True)
class DemoImport:
    step: ImportStep
    path: Path
    report: ImportReport
    seconds: float


@dataclass
class DemoResult:
    sample: SampleFiles
    imports: list[DemoImport]
    quality: QualityOverview
    duplicate_suggestions: list[DuplicateSuggestion] | None  # None when the service is not available
    seconds: float
    reasons: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)

    @property
    def contacts_created(self) -> int:
        return sum(i.report.created if i.step.kind == "contacts" else i.report.contacts_created
                   for i in self.imports)

    @property
    def events_stored(self) -> int:
        return sum(i.report.created for i in self.imports if i.step.kind == "events")

    @property
    def merged(self) -> int:
        return sum(i.report.merged for i in self.imports)

    @property
    def rejected(self) -> int:
        return sum(i.report.rejected for i in self.imports)

    @property
    def read(self) -> int:
        return sum(i.report.read for i in self.imports)

    def source_share(self, item: DemoImport, name: str) -> float | None:
        """Share of a file's rows that had ``name`` filled in (before merging)."""
        filled = item.report.field_filled.get(name)  # absent: the file has no such column, or it is empty
        return None if item.report.read == 0 or filled is None else filled / item.report.read


ProgressFn = Callable[[ImportStep, int, int], None]


def run_demo(ctx: ServiceContext, directory: Path, contacts: int = 2000, seed: int = 1,
             progress: ProgressFn | None = None, batch_size: int = 2000) -> DemoResult:
    """Write the sample data under ``directory/sample-data`` and import it; the database must exist.

    The data is dated up to today (the context's clock, in China time), so the demo means something on any day.
    """
    started = time.perf_counter()
    today = ctx.clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    sample = write_sample_data(directory / SAMPLE_DIR, contacts=contacts, seed=seed, as_of=today)
    imports: list[DemoImport] = []
    reasons: collections.Counter[tuple[str, str]] = collections.Counter()
    for step in PLAN:
        path = sample.path(step.sample)
        began = time.perf_counter()
        report = import_file(ctx, path, step.kind, step.source, progress=_bind(progress, step),
                             batch_size=batch_size)
        imports.append(DemoImport(step, path, report, time.perf_counter() - began))
        for reason, count in report.reject_reasons.items():
            reasons[(step.sample, reason)] += count
    overview = quality_overview(ctx)
    return DemoResult(sample, imports, overview, _duplicates(ctx), time.perf_counter() - started, reasons)


def _bind(progress: ProgressFn | None, step: ImportStep) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    report = progress

    def bound(done: int, total: int) -> None:
        report(step, done, total)

    return bound


def _duplicates(ctx: ServiceContext) -> list[DuplicateSuggestion] | None:
    """Fuzzy duplicate suggestions, when the contacts service offers them (it is optional here)."""
    try:
        from touchflow.services.contacts import suggest_duplicates
    except ImportError:
        return None
    return suggest_duplicates(ctx, limit=DUPLICATE_LIMIT)
