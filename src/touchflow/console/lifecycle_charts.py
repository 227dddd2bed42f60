"""Vega-Lite specs for the lifecycle page, written as dicts like ``charts.sparkline`` (drawn by vega-embed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from touchflow.console.charts import _CONFIG, _SCHEMA

__all__ = ["stage_counts_chart", "stage_flows_chart"]


def stage_counts_chart(counts: Sequence[tuple[str, int]], stage_title: str, count_title: str) -> dict[str, Any]:
    return {"$schema": _SCHEMA, "data": {"values": [{"stage": s, "n": n} for s, n in counts]},
            "mark": {"type": "bar", "color": "#206bc4"},
            "encoding": {"y": {"field": "stage", "type": "nominal", "sort": "-x", "title": stage_title},
                         "x": {"field": "n", "type": "quantitative", "title": count_title}},
            "width": "container", "height": {"step": 28}, "config": _CONFIG}


def stage_flows_chart(flows: Sequence[tuple[str, str, int]], first: str, titles: tuple[str, str, str]
                      ) -> dict[str, Any]:
    """From-stage × to-stage, each cell the contacts whose latest move it was (``first`` names no from-stage)."""
    values = [{"from": a or first, "to": b, "n": n} for a, b, n in flows]
    return {"$schema": _SCHEMA, "data": {"values": values},
            "encoding": {"x": {"field": "to", "type": "nominal", "title": titles[1]},
                         "y": {"field": "from", "type": "nominal", "title": titles[0]}},
            "layer": [{"mark": "rect", "encoding": {"color": {"field": "n", "type": "quantitative",
                                                              "title": titles[2], "scale": {"scheme": "blues"}}}},
                      {"mark": {"type": "text", "color": "#1d273b"},
                       "encoding": {"text": {"field": "n", "type": "quantitative"}}}],
            "width": "container", "height": {"step": 32}, "config": _CONFIG}
