"""Attribution results as JSON documents: what ``--json`` prints and the API returns (one shape for both).

Money is text in yuan with two decimals (costs with as many as they need), so no float rounding creeps in;
fractional conversions (linear credit) are decimals rounded to 4 places, with the exact sums kept in cents.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from touchflow.domain.conditions.durations import format_duration
from touchflow.domain.measurement.attribution import from_cents
from touchflow.domain.measurement.holdouts import Interval
from touchflow.domain.measurement.roi import Cycle, GroupReturn
from touchflow.domain.measurement.workspace_holdout import WorkspaceGroup
from touchflow.services.attribution import (
    AttributionReport,
    AttributionSettings,
    HoldoutUplift,
    RoiReport,
    TouchpointRanking,
)
from touchflow.services.workspace_holdout import WorkspaceUplift

__all__ = ["attribution_document", "group_document", "ranking_document", "roi_document", "settings_document",
           "uplift_document", "workspace_group_document", "workspace_uplift_document"]


def _yuan(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(Decimal("0.01")))


def _ratio(value: Decimal | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _conversions(value: Fraction) -> float:
    return round(float(value), 4)


def _credits(table: dict[str, tuple[Fraction, int]]) -> list[dict[str, Any]]:
    rows = sorted(table.items(), key=lambda kv: (-kv[1][1], kv[0]))
    return [{"name": name, "conversions": _conversions(conv), "revenue": _yuan(from_cents(cents)),
             "revenue_cents": cents} for name, (conv, cents) in rows]


def settings_document(settings: AttributionSettings) -> dict[str, Any]:
    return settings.document()


def attribution_document(report: AttributionReport) -> dict[str, Any]:
    return {
        "model": report.model, "window": format_duration(report.window),
        "from": report.start.isoformat(), "to": report.end.isoformat(), "journey": report.journey,
        "orders": report.orders, "revenue": _yuan(from_cents(report.revenue_cents)),
        "revenue_cents": report.revenue_cents,
        "attributed": {"orders": report.attributed_orders, "revenue": _yuan(from_cents(report.attributed_cents)),
                       "revenue_cents": report.attributed_cents},
        "unattributed": {"orders": report.unattributed_orders,
                         "revenue": _yuan(from_cents(report.unattributed_cents)),
                         "revenue_cents": report.unattributed_cents},
        "duplicate_order_events": report.duplicates,
        "by_channel": _credits(report.by_channel), "by_journey": _credits(report.by_journey),
        "by_touchpoint": _credits(report.by_touchpoint),
    }


def group_document(row: GroupReturn) -> dict[str, Any]:
    return {"group": row.group, "touches": row.touches, "cost": str(row.cost.normalize()) if row.cost else "0",
            "conversions": _conversions(row.conversions), "revenue": _yuan(row.revenue),
            "revenue_cents": row.revenue_cents, "roi": _ratio(row.roi),
            "cpa": None if row.cpa is None else str(row.cpa.quantize(Decimal("0.0001"))),
            "conversions_per_touch": round(row.conversions_per_touch, 6)}


def _cycle(cycle: Cycle) -> dict[str, Any]:
    return {"group": cycle.group, "contacts": cycle.contacts,
            "median_days": None if cycle.median_days is None else round(cycle.median_days, 2),
            "p90_days": None if cycle.p90_days is None else round(cycle.p90_days, 2)}


def roi_document(report: RoiReport) -> dict[str, Any]:
    return {"model": report.model, "by": report.by, "from": report.start.isoformat(), "to": report.end.isoformat(),
            "rows": [group_document(r) for r in report.rows], "total": group_document(report.total),
            "sales_cycle": [_cycle(c) for c in report.cycles]}


def ranking_document(ranking: TouchpointRanking) -> dict[str, Any]:
    return {"model": ranking.model, "from": ranking.start.isoformat(), "to": ranking.end.isoformat(),
            "channels": [group_document(r) for r in ranking.channels],
            "touchpoints": [group_document(r) for r in ranking.touchpoints]}


def _interval(value: Interval | None, digits: int) -> dict[str, float] | None:
    if value is None:
        return None
    return {"estimate": round(value.estimate, digits), "low": round(value.low, digits),
            "high": round(value.high, digits)}


def uplift_document(journey: str, results: list[HoldoutUplift]) -> dict[str, Any]:
    groups = []
    for item in results:
        h, u = item.holdout, item.result
        groups.append({
            "holdout_id": h.id, "key": h.key, "version": h.version, "share": h.share,
            "started_at": h.started_at.isoformat(), "ended_at": h.ended_at.isoformat() if h.ended_at else None,
            "goal_event": item.goal_event, "window_days": round(item.window.total_seconds() / 86400, 3),
            "treated": {"entrants": u.treated, "converted": u.treated_converted,
                        "rate": None if u.treated_rate is None else round(u.treated_rate, 6)},
            "control": {"entrants": u.control, "converted": u.control_converted,
                        "rate": None if u.control_rate is None else round(u.control_rate, 6)},
            "uplift": _interval(u.conversion, 6), "revenue_per_contact_uplift": _interval(u.revenue_per_contact, 2),
            "confidence": u.confidence, "significant": u.significant, "open_entrants": item.open_runs,
            "ci_method": "newcombe-hybrid-score; revenue: welch-normal",
        })
    return {"journey": journey, "holdouts": groups}


def workspace_group_document(group: WorkspaceGroup) -> dict[str, Any]:
    return {"id": group.id, "key": group.key, "share": group.share, "started_at": group.started_at.isoformat(),
            "ended_at": group.ended_at.isoformat() if group.ended_at else None, "set_by": group.set_by}


def workspace_uplift_document(results: list[WorkspaceUplift]) -> dict[str, Any]:
    groups = []
    for item in results:
        u = item.result
        groups.append({
            **workspace_group_document(item.group), "measured_to": item.end.isoformat(), "goal_event": "order_paid",
            "treated": {"contacts": u.treated, "converted": u.treated_converted,
                        "rate": None if u.treated_rate is None else round(u.treated_rate, 6)},
            "control": {"contacts": u.control, "converted": u.control_converted,
                        "rate": None if u.control_rate is None else round(u.control_rate, 6)},
            "uplift": _interval(u.conversion, 6), "revenue_per_contact_uplift": _interval(u.revenue_per_contact, 2),
            "confidence": u.confidence, "significant": u.significant,
            "ci_method": "newcombe-hybrid-score; revenue: welch-normal",
        })
    return {"scope": "workspace", "holdouts": groups}
