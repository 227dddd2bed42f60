"""Vega-Lite specs for the console, built in Python and drawn in the browser by vega-embed.

The trend is the reports' own chart (``reports.charts.trend_chart``), so a page and a PDF never disagree; the
sparklines are small line charts of one KPI per day. The data is inline: nothing is fetched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import altair as alt
from altair.utils.schemapi import debug_mode

from touchflow.domain.measurement.report_model import Counts
from touchflow.reports.charts import trend_chart

__all__ = ["report_trend", "sparkline", "trend"]

_SCHEMA = alt.SCHEMA_URL  # the Vega-Lite version altair (and so the reports) writes; vendored vega-lite matches
_FONT = '"PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif'
_CONFIG = {"font": _FONT, "view": {"stroke": None}, "background": None,
           "axis": {"labelColor": "#6c7a91", "titleColor": "#6c7a91"}, "legend": {"labelColor": "#6c7a91"}}


def report_trend(days: Sequence[tuple[date, Counts]], names: Mapping[str, str]) -> dict[str, Any]:
    """The weekly report's trend chart (sent, opened, clicked per day) as a Vega-Lite dict as wide as its container:
    the one way a console page shows it, so the page and the PDF draw the same picture."""
    chart = trend_chart([(d.strftime("%m-%d"), c) for d, c in days], names).properties(width="container")
    with debug_mode(False):  # altair validates every object against the schema: ~20-60 ms for a fixed chart
        return chart.to_dict(validate=False)


def trend(days: Sequence[tuple[date, Counts]], names: Mapping[str, str]) -> dict[str, Any]:
    """Sent, opened and clicked per day on the dashboard, in the dashboard's colours."""
    return {**report_trend(days, names), "config": _CONFIG}


def sparkline(points: Sequence[tuple[date, float | None]], *, color: str = "#206bc4") -> dict[str, Any]:
    """One KPI per day, no axes: the shape of the week beside the number. Written as the Vega-Lite dict itself:
    eight of these per dashboard, and building each through altair cost more than the page's queries."""
    return {"$schema": _SCHEMA, "data": {"values": [{"day": d.isoformat(), "v": v} for d, v in points]},
            "mark": {"type": "line", "color": color, "strokeWidth": 2, "interpolate": "monotone"},
            "encoding": {"x": {"field": "day", "type": "temporal", "axis": None},
                         "y": {"field": "v", "type": "quantitative", "axis": None, "scale": {"zero": False}}},
            "width": "container", "height": 40, "config": {**_CONFIG, "padding": 2}}
