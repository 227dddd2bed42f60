"""The workspace control group: set, end, list (each audited), and its uplift over all contacts.

``set_workspace_holdout`` ends the running group (if any) and starts a new one in one transaction; the setting
``holdout.workspace`` mirrors the running group for the audit log, the table ``workspace_holdouts`` keeps every
group with its start and end (the engine reads the running one at entry). Uplift is intention-to-treat: every
contact that existed before the group ended, arm by the same hash the engine used; conversion = an ``order_paid``
between the group's start and its end (or now), revenue per contact in that span (each order id once).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from touchflow.domain.errors import FieldError
from touchflow.domain.events import JSONValue
from touchflow.domain.measurement.holdouts import Uplift, uplift
from touchflow.domain.measurement.workspace_holdout import (
    SETTING_KEY,
    WorkspaceGroup,
    validate_share,
    workspace_held_out,
)
from touchflow.services.context import ServiceContext

__all__ = ["WorkspaceUplift", "end_workspace_holdout", "set_workspace_holdout", "workspace_holdouts",
           "workspace_uplift"]

_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _document(group: WorkspaceGroup) -> dict[str, JSONValue]:
    return {"id": group.id, "share": group.share, "key": group.key, "started_at": group.started_at.isoformat()}


def set_workspace_holdout(ctx: ServiceContext, share: float, key: str | None = None, *,
                          actor: str) -> WorkspaceGroup:
    """Start a workspace control group (0 < share ≤ 0.2); a running one ends at the same instant."""
    reason = validate_share(share)
    if reason is not None:
        raise FieldError("share", reason)
    now = ctx.clock.now()
    group_id = ctx.ids.new(now)
    key = key if key is not None else f"g{now:%Y%m%d%H%M}"
    if not _KEY.match(key):
        raise FieldError("key", "1–64 letters, digits, _ . -")
    group = WorkspaceGroup(group_id, key, share, now, None, actor)
    with ctx.uow() as uow:
        before = uow.guards.setting(SETTING_KEY)
        uow.attribution.end_workspace_group(now)
        uow.attribution.open_workspace_group(group)
        after = _document(group)
        uow.guards.set_setting(SETTING_KEY, after, actor, now)
        uow.audit.record(actor, "holdout.workspace.set", SETTING_KEY, dict(after), now, before=before, after=after)
        uow.commit()
    return group


def end_workspace_holdout(ctx: ServiceContext, *, actor: str) -> WorkspaceGroup | None:
    """End the running group (None if there is none); it stays queryable with its end time."""
    now = ctx.clock.now()
    with ctx.uow() as uow:
        before = uow.guards.setting(SETTING_KEY)
        ended = uow.attribution.end_workspace_group(now)
        if ended is None:
            return None
        uow.guards.set_setting(SETTING_KEY, {}, actor, now)
        uow.audit.record(actor, "holdout.workspace.end", SETTING_KEY, {"id": ended.id, "ended_at": now.isoformat()},
                         now, before=before, after={})
        uow.commit()
    return WorkspaceGroup(ended.id, ended.key, ended.share, ended.started_at, now, ended.set_by)


def workspace_holdouts(ctx: ServiceContext) -> list[WorkspaceGroup]:
    """Every workspace control group, newest first."""
    with ctx.reader() as uow:
        return list(reversed(uow.attribution.workspace_groups()))


@dataclass(frozen=True)
class WorkspaceUplift:
    group: WorkspaceGroup
    end: datetime  # the span measured: the group's start to its end, or to now while it runs
    result: Uplift


def workspace_uplift(ctx: ServiceContext, *, confidence: float = 0.95) -> list[WorkspaceUplift]:
    """Every workspace group, newest first: treated vs held-out contacts, ``order_paid`` conversion in the
    group's span (Newcombe interval) and revenue per contact (Welch interval)."""
    if not 0.5 <= confidence < 1:
        raise FieldError("confidence", "between 0.5 and 1")
    now = ctx.clock.now()
    found: list[WorkspaceUplift] = []
    with ctx.reader() as uow:
        for group in reversed(uow.attribution.workspace_groups()):
            end = group.ended_at or now
            population = uow.attribution.contacts_before(end)
            revenue: dict[str, int] = defaultdict(int)
            converted: set[str] = set()
            orders: set[str] = set()
            for order in sorted(uow.attribution.orders(group.started_at, end, population),
                                key=lambda o: (o.at, o.order_id)):
                converted.add(order.contact_id)
                if order.order_id not in orders:
                    orders.add(order.order_id)
                    revenue[order.contact_id] += order.revenue_cents
            arms: dict[bool, list[tuple[bool, float]]] = {False: [], True: []}
            for contact_id in population:
                arms[workspace_held_out(group.share, group.key, contact_id)].append(
                    (contact_id in converted, revenue[contact_id] / 100))
            found.append(WorkspaceUplift(group, end, uplift(arms[False], arms[True], confidence)))
    return found
