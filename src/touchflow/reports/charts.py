"""Charts as SVG, drawn offline: an Altair (Vega-Lite) spec converted by vl-convert's embedded engine.

``allowed_base_urls=[]`` forbids any fetch (the data is inline; vl-convert bundles Vega itself), and the font is
the registered CJK family, so Chinese labels are measured and named correctly in the SVG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from touchflow.domain.measurement.report_model import FUNNEL_STAGES, Counts
from touchflow.reports.fonts import FAMILY, CjkFont, register_for_charts

if TYPE_CHECKING:
    import altair as alt  # imported where a chart is built: ~0.7 s that the CLI and the worker rarely need

__all__ = ["funnel_chart", "to_svg", "trend_chart"]

_CONFIG = {"font": FAMILY, "axis": {"labelFontSize": 11, "titleFontSize": 11}, "legend": {"labelFontSize": 11},
           "view": {"stroke": None}}


def _data(values: list[dict[str, Any]]) -> alt.Data:
    import altair as alt

    return alt.Data(values=values)  # type: ignore[no-untyped-call]


def to_svg(chart: alt.TopLevelMixin, font: CjkFont) -> str:
    import vl_convert

    register_for_charts(font)
    return str(vl_convert.vegalite_to_svg(chart.to_dict(), config=_CONFIG, allowed_base_urls=[]))


def trend_chart(days: Sequence[tuple[str, Counts]], names: Mapping[str, str]) -> alt.Chart:
    """Sent, opened and clicked per day (lines)."""
    import altair as alt

    values: list[dict[str, Any]] = [{"day": d, "series": names[s], "n": c.stage(s)}
                                    for d, c in days for s in ("sent", "opened", "clicked")]
    chart: alt.Chart = alt.Chart(_data(values)).mark_line(point=True).encode(
        x=alt.X("day:O", title=names["day"], axis=alt.Axis(labelAngle=0)),
        y=alt.Y("n:Q", title=None),  # a rotated CJK title reads badly; the legend names the series
        color=alt.Color("series:N", title=None, sort=[names[s] for s in ("sent", "opened", "clicked")]),
    ).properties(width=560, height=170)
    return chart


def funnel_chart(counts: Counts, names: Mapping[str, str]) -> alt.LayerChart:
    """The whole period's funnel, entered → converted (bars with their numbers)."""
    import altair as alt

    values = [{"stage": names[s], "n": counts.stage(s), "order": i} for i, s in enumerate(FUNNEL_STAGES)]
    base = alt.Chart(_data(values)).encode(
        y=alt.Y("stage:N", sort=alt.SortField("order"), title=None), x=alt.X("n:Q", title=None))
    layered: alt.LayerChart = (base.mark_bar(color="#3b6fb6") + base.mark_text(align="left", dx=3).encode(
        text="n:Q")).properties(width=520, height=150)
    return layered
