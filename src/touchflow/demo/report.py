"""The demo's last step: the weekly report of the replayed traffic, as a PDF next to the demo database."""

from __future__ import annotations

import time
from pathlib import Path

from touchflow.reports.render import render_html, render_pdf
from touchflow.services.context import ServiceContext
from touchflow.services.reports import build_report, counts_from_rollups

__all__ = ["write_weekly_report"]


def write_weekly_report(ctx: ServiceContext, directory: Path, lang: str = "zh-CN") -> tuple[Path, float]:
    """Render the last closed week's report of ``ctx``'s store (its rollups refreshed) to ``directory``; (path,
    seconds it took).
    Raises ``reports.fonts.FontMissing`` without a CJK font."""
    started = time.perf_counter()
    data = build_report(ctx, "weekly", counts=counts_from_rollups)  # the same counts as the demo's KPI table
    path = directory / f"touchflow-weekly-{data.period.first_day.isoformat()}.pdf"
    path.write_bytes(render_pdf(render_html(data, lang)))
    return path, time.perf_counter() - started
