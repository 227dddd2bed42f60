"""Vega-Lite specs for the measurement pages, built in Python and drawn in the browser by the vendored vega-embed.

The daily trend is the report's own chart (``reports/charts.trend_chart``), so the console and the PDF show the
same picture; the rate line and the "explain this drop" bars are small specs of the same style. Labels arrive
translated (the view passes the catalog's words); the font stack is the console's CJK-first one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from touchflow.console.charts import report_trend
from touchflow.domain.measurement.decompose import Decomposition
from touchflow.domain.measurement.metrics import MetricRow, rates
from touchflow.services.reports import counts_of

__all__ = ["contribution_spec", "goal_spec", "rate_spec", "trend_spec"]

_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"  # what the vendored vega-lite reads
_FONT = "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, Noto Sans SC, sans-serif"
_CONFIG = {"font": _FONT, "axis": {"labelFontSize": 11, "titleFontSize": 11}, "legend": {"labelFontSize": 11},
           "view": {"stroke": None}, "background": None}


def _fit(spec: dict[str, Any], height: int = 180) -> dict[str, Any]:
    """As wide as its card (the page is readable from a tablet to 1280 px and up)."""
    spec.update(width="container", height=height, autosize={"type": "fit", "contains": "padding"})
    spec["config"] = {**spec.get("config", {}), **_CONFIG}
    return spec


def trend_spec(rows: Sequence[MetricRow], names: Mapping[str, str]) -> dict[str, Any]:
    """Sent, opened and clicked per day: the report's trend chart (``names``: day, sent, opened, clicked)."""
    return _fit(report_trend([(row.day, counts_of(row)) for row in rows if row.day is not None], names))


def rate_spec(rows: Sequence[MetricRow], metric: str, label: str, day_label: str) -> dict[str, Any]:
    """One rate per day (a gap where the day had no denominator: no traffic is not 0 %)."""
    values = [{"day": row.day.isoformat()[5:], "rate": rates(row).get(metric)} for row in rows if row.day is not None]
    return _fit({"$schema": _SCHEMA, "data": {"values": values},
                 "mark": {"type": "line", "point": True},
                 "encoding": {"x": {"field": "day", "type": "ordinal", "title": day_label,
                                    "axis": {"labelAngle": 0}},
                              "y": {"field": "rate", "type": "quantitative", "title": None,  # the card names it
                                    "axis": {"format": ".0%"}},
                              "tooltip": [{"field": "day", "type": "ordinal", "title": day_label},
                                          {"field": "rate", "type": "quantitative", "title": label,
                                           "format": ".1%"}]}})


def contribution_spec(result: Decomposition, names: Mapping[str, str]) -> dict[str, Any]:
    """Each group's share of the change in percentage points, split into mix shift and rate change
    (``names``: mix, rate, pp; the table under the chart names the dimension)."""
    values = [{"segment": s.key, "part": names[part], "pp": round(value * 100, 2)}
              for s in result.segments[:12] for part, value in (("mix", s.mix), ("rate", s.rate))]
    order = [s.key for s in result.segments[:12]]
    return _fit({"$schema": _SCHEMA, "data": {"values": values},
                 "mark": "bar",
                 "encoding": {"y": {"field": "segment", "type": "nominal", "sort": order, "title": None},
                              "x": {"field": "pp", "type": "quantitative", "title": names["pp"],
                                    "stack": "zero"},
                              "color": {"field": "part", "type": "nominal", "title": None,
                                        "scale": {"range": ["#3b6fb6", "#d6336c"]}},
                              "tooltip": [{"field": "segment"}, {"field": "part"}, {"field": "pp", "format": "+.2f"}]}},
                height=max(80, 28 * len(order)))


def goal_spec(history: Sequence[tuple[date, float]], target: float, percent: bool) -> dict[str, Any]:
    """A key result's recorded daily values (a sparkline) with its target as a dashed rule."""
    values = [{"day": d.isoformat(), "value": v} for d, v in history]
    axis = {"format": ".0%"} if percent else {}
    spec: dict[str, Any] = {
        "$schema": _SCHEMA,
        "layer": [{"data": {"values": values}, "mark": {"type": "line", "point": len(values) < 3},
                   "encoding": {"x": {"field": "day", "type": "temporal", "axis": None},
                                "y": {"field": "value", "type": "quantitative", "axis": None,
                                      "scale": {"zero": False}}}},
                  {"data": {"values": [{"target": target}]}, "mark": {"type": "rule", "strokeDash": [4, 3],
                                                                      "color": "#d6336c"},
                   "encoding": {"y": {"field": "target", "type": "quantitative", **({"axis": axis} if axis else {})}}}],
    }
    return _fit(spec, height=36)
