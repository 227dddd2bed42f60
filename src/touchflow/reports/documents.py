"""Reports, goals and reviews as JSON-ready documents (CLI ``--json`` and the API use the same shapes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from touchflow.domain.measurement.flow_review import JourneyReview
from touchflow.domain.measurement.report_model import Counts, GoalLine, ReportData

__all__ = ["goal_document", "report_document", "review_document"]


def _counts(c: Counts) -> dict[str, int]:
    return asdict(c)


def goal_document(g: GoalLine) -> dict[str, Any]:
    return {"key": g.key, "title": g.title, "owner": g.owner, "deadline": g.deadline.isoformat(), "target": g.target,
            "unit": g.unit, "value": g.value, "measured": g.value is not None, "progress": g.progress,
            "at_risk": g.at_risk, "note": g.note}


def report_document(data: ReportData) -> dict[str, Any]:
    p = data.period
    return {
        "kind": p.kind, "period": {"label": p.label, "start": p.start.isoformat(), "end": p.end.isoformat(),
                                   "zone": p.zone},
        "previous": {"label": p.previous().label, "start": p.previous().start.isoformat()},
        "generated_at": data.generated_at.isoformat(),
        "totals": _counts(data.totals), "previous_totals": _counts(data.previous_totals),
        "kpis": [{"key": k.key, "kind": k.kind, "value": k.value, "previous": k.previous, "change": k.change}
                 for k in data.kpis],
        "daily": [{"day": d.isoformat(), **_counts(c)} for d, c in data.daily],
        "funnels": [{"journey": f.journey, "name": f.name, **_counts(f.counts)} for f in data.funnels],
        "best_templates": [_template(t) for t in data.best_templates],
        "worst_templates": [_template(t) for t in data.worst_templates],
        "skips": [{"reason": s.reason, "count": s.count} for s in data.skips],
        "compliance": [{"template": c.template, "version": c.version, "status": c.status,
                        "findings": list(c.findings)} for c in data.compliance],
        "goals": [goal_document(g) for g in data.goals],
        "anomalies": [{"at": a.at.isoformat(), "journey": a.journey, "metric": a.metric, "message": a.message}
                      for a in data.anomalies],
    }


def _template(t: Any) -> dict[str, Any]:
    return {"template": t.template, "channel": t.channel, "sent": t.sent, "delivered": t.delivered,
            "opened": t.opened, "clicked": t.clicked, "open_rate": t.open_rate, "click_rate": t.click_rate}


def review_document(quarter: str, reviews: Sequence[JourneyReview]) -> dict[str, Any]:
    return {"quarter": quarter, "journeys": [{
        "key": r.key, "name": r.name, "status": r.status, "has_goal": r.has_goal, "quarter": _counts(r.quarter),
        "previous_quarter": _counts(r.previous_quarter), "conversion_rate": r.conversion_rate,
        "skip_share": r.skip_share, "lint": r.lint, "recommendations": r.recommendations,
        "versions": [{"version": v.version, "published_at": v.published_at.isoformat(), "published_by": v.published_by,
                      "before": _counts(v.before), "after": _counts(v.after),
                      "conversion_change": v.conversion_change, "open_rate_change": v.open_rate_change}
                     for v in r.versions],
        "review": {"status": r.review_status, "decision": r.decision, "decided_by": r.decided_by, "note": r.note},
    } for r in reviews]}
