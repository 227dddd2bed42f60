"""The scenario's world in the sandbox: guardrails and segments at the start, a provider that fails for
chosen contacts, and a person's actions at their time (pause, resume, publish, complete a task, unfreeze).

Everything goes through the same services a person's command uses, so an action in the sandbox has
exactly the effect it has in production (a resume wakes waiting runs, a publish moves new entries to
the new version, an unfreeze lets queued messages through).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from touchflow.channels.base import Delivery, Outgoing
from touchflow.channels.capture import CaptureChannel
from touchflow.domain.journeys.scenario_fields import ScenarioError
from touchflow.domain.journeys.scenario_world import ChannelRule, ScenarioAction, World
from touchflow.domain.segments.model import SegmentError
from touchflow.engine.channel_registry import ChannelRegistry
from touchflow.services.context import ServiceContext
from touchflow.services.guarding import NotFrozen, lift_freeze, set_guardrail_policy
from touchflow.services.journeys import publish_journey, set_journey_status
from touchflow.services.segments import add_members, create_segment
from touchflow.services.tasks import complete_task

__all__ = ["ACTOR", "ActionDone", "SandboxChannel", "apply_action", "prepare_world", "sandbox_channels",
           "seed_memberships"]

ACTOR = "simulator"
# contact id -> (persona, label, email) of a persona contact
Who = Callable[[str], tuple[str, str, str] | None]


class SandboxChannel(CaptureChannel):
    """A capture channel whose provider rejects the messages of the contacts the rules select."""

    def __init__(self, name: str, rules: Sequence[ChannelRule], who: Who) -> None:
        super().__init__(name)
        self.rules = list(rules)
        self.who = who
        self._failures: Counter[str] = Counter()  # message id -> transient failures so far
        self._rules_lock = threading.Lock()

    def _failure(self, message: Outgoing) -> ChannelRule | None:
        found = self.who(message.contact_id)
        if found is None:
            return None
        rule = next((r for r in self.rules if r.selects(*found)), None)
        if rule is None or rule.fail == "permanent" or rule.times is None:
            return rule
        with self._rules_lock:
            if self._failures[message.message_id] >= rule.times:
                return None
            self._failures[message.message_id] += 1
        return rule

    def send(self, messages: Sequence[Outgoing]) -> list[Delivery]:
        answers: dict[str, Delivery] = {}
        passing: list[Outgoing] = []
        for message in messages:
            rule = self._failure(message)
            if rule is None:
                passing.append(message)
            else:
                answers[message.message_id] = Delivery(message.message_id, "failed" if rule.fail == "permanent"
                                                       else "retry", error=rule.error)
        for delivery in super().send(passing):
            answers[delivery.message_id] = delivery
        return [answers[m.message_id] for m in messages]


def sandbox_channels(world: World, who: Who) -> ChannelRegistry:
    """Every channel captures; those the scenario gives rules fail for the contacts they select."""
    registry = ChannelRegistry.capture_all()
    for name in sorted({r.channel for r in world.channels}):
        registry.add(name, SandboxChannel(name, [r for r in world.channels if r.channel == name], who),
                     kind="capture")
    return registry


def prepare_world(ctx: ServiceContext, world: World) -> None:
    """Before the journeys are published: the guardrail policy and the segments they may read."""
    if world.guardrails is not None:
        set_guardrail_policy(ctx, world.guardrails, actor=ACTOR)
    for data in world.segments:
        create_segment(ctx, data, actor=ACTOR)


def seed_memberships(ctx: ServiceContext, members: dict[str, list[str]], world: World) -> None:
    """The personas' ``segments``: each key a static segment of the sandbox (made when the world does not
    define it) holding those contacts (ids), fixed for the run: a membership copied, not recomputed."""
    defined = {str(s.get("key")) for s in world.segments}
    for key, contact_ids in sorted(members.items()):
        if key not in defined:
            create_segment(ctx, {"key": key, "name": key, "kind": "static"}, actor=ACTOR)
        try:
            add_members(ctx, key, contact_ids, actor=ACTOR)
        except SegmentError as exc:  # a dynamic segment of the world: its condition decides
            raise ScenarioError("personas.segments", f"{key}: {exc.reason}") from None


@dataclass(frozen=True)
class ActionDone:
    action: ScenarioAction
    affected: int  # journeys changed, tasks completed, freezes lifted

    def to_json(self, at: str) -> dict[str, object]:
        a = self.action
        return {"at": at, "action": a.kind, "target": a.target, "contact": a.contact, "affected": self.affected}


def apply_action(ctx: ServiceContext, action: ScenarioAction, contacts: dict[str, tuple[str, str, str]]
                 ) -> ActionDone:
    """Do what a person would, through the same service; ``contacts``: id -> (persona, label, email)."""
    if action.kind in ("pause", "resume"):
        set_journey_status(ctx, action.target, "paused" if action.kind == "pause" else "active", actor=ACTOR,
                           reason=f"scenario {action.path}")
        return ActionDone(action, 1)
    if action.kind == "publish":
        assert action.definition is not None
        publish_journey(ctx, json.dumps(action.definition, ensure_ascii=False, default=str), actor=ACTOR)
        return ActionDone(action, 1)
    chosen = {cid: who for cid, who in contacts.items() if who[0] == action.target
              and (action.contact is None or action.contact.lower() in (who[1], who[2]))}
    done = 0
    if action.kind == "complete_task":
        with ctx.reader() as uow:
            open_tasks = [t for t in uow.tasks.find(action.queue, "open", 1_000_000) if t.contact_id in chosen]
        for task in open_tasks:
            complete_task(ctx, task.id, by=ACTOR, note=f"scenario {action.path}")
            done += 1
        return ActionDone(action, done)
    for contact_id in chosen:
        try:
            lift_freeze(ctx, contact_id, by=ACTOR, reason=f"scenario {action.path}")
        except NotFrozen:
            continue
        done += 1
    return ActionDone(action, done)
