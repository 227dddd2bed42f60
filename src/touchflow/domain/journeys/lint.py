"""Journey lint (J10): integrity checks on a parsed definition before it may be published.

The parser rejects what cannot be run at all; lint finds what can run but is probably wrong:
unreachable steps, runs that can never finish, loops that would spin without waiting, waits that
can last forever, references to templates or journeys that do not exist. ``lint_journey`` is pure
and total: it also accepts a hand-built definition with dangling edges and reports them.

Every finding has a stable ``code`` (listed in ``LINT_CODES`` and in docs/subsystems/journeys.md)
so the builder and the API can key help texts on it; ``path`` uses the parser's paths
(``nodes.wait_open.timeout``) so the builder can point at the node.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from touchflow.domain.channel_names import alias_warning
from touchflow.domain.conditions.predicates import Condition, MessageEngagement, walk
from touchflow.domain.journeys.model import (
    DEFAULT_FALLBACK_WINDOW,
    Branch,
    Enrol,
    Exit,
    JourneyDefinition,
    Node,
    Send,
    Split,
    Wait,
    WaitEvent,
    Webhook,
    node_edges,
)
from touchflow.domain.webhook_urls import AllowList, url_problem

__all__ = ["LINT_CODES", "Finding", "Severity", "alias_findings", "has_errors", "lint_journey"]

Severity = Literal["error", "warning"]

# code -> (severity, what it means). A journey with an error finding must not be published.
LINT_CODES: Mapping[str, tuple[Severity, str]] = {
    "unknown-target": ("error", "an edge names a node that does not exist"),
    "unreachable-node": ("warning", "no path from start reaches the node"),
    "dead-end": ("error", "no exit and no end can be reached from the node, so runs there never finish "
                          "(a warning when a goal or exit rule can still end them)"),
    "loop-without-wait": ("error", "a cycle with no wait or wait_event: the engine would spin and fail the run"),
    "wait-without-timeout": ("warning", "a wait_event without timeout: a contact can wait forever"),
    "timeout-edge-ignored": ("warning", "on_timeout is set but the wait_event has no timeout, so it is never taken"),
    "branch-without-else": ("warning", "a branch without else: a contact that matches no case ends the journey"),
    "split-percentages": ("error", "the split's percentages do not add up to 100"),
    "missing-template": ("error", "the send node's template is not in the template library"),
    "unknown-journey": ("error", "the enrol node names a journey that does not exist"),
    "self-enrol": ("warning", "enrolling into the same journey does nothing while the run is active"),
    "send-via-webhook": ("error", "a send node on the webhook channel; use a webhook node"),
    "unsafe-webhook-url": ("error", "the webhook URL is not a plain http(s) URL, or it points into our own network "
                                    "(loopback, private, link-local/cloud metadata …) in any spelling"),
    "fallback-repeats-channel": ("warning", "the fallback list repeats the primary channel or itself"),
    "fallback-window-without-fallback": ("warning", "fallback_window is set but there is no fallback channel"),
    "unknown-segment": ("error", "the segment trigger names a segment that does not exist"),
    "not-a-message": ("error", "an opened/clicked condition names a node that is not a send node"),
    "message-not-before": ("warning", "the message node named by of_message, opened or clicked cannot have run "
                                      "before this node, so the engagement never matches"),
    "of-message-event": ("warning", "of_message on a wait for events that carry no message (only message_* do)"),
    "engagement-outside-run": ("error", "opened/clicked in the trigger audience: there is no run to read yet"),
    "goal-is-trigger": ("warning", "the goal is the trigger event: runs may convert the moment they enter"),
    "channel-alias": ("warning", "an old channel name (wechat_mp): it is read as the channel's one name (wechat)"),
}


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    path: str
    message: str


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def _finding(code: str, path: str, message: str, severity: Severity | None = None) -> Finding:
    return Finding(code, severity or LINT_CODES[code][0], path, message)


class _Graph:
    """Successors of every node; ``None`` stands for "the run ends here"."""

    def __init__(self, journey: JourneyDefinition) -> None:
        self.nodes = journey.nodes
        self.succ: dict[str, list[str | None]] = {}
        for node_id, node in journey.nodes.items():
            targets: list[str | None] = [target for _, target in node_edges(node)]
            if isinstance(node, Branch) and not node.has_else:
                targets.append(None)  # no case matched: the run completes at the branch
            self.succ[node_id] = targets

    def reach(self, sources: Iterable[str], through: Collection[str] | None = None) -> set[str]:
        """Every node reachable from ``sources`` by one or more edges (only via ``through`` when given)."""
        seen: set[str] = set()
        stack = [t for s in sources for t in self.succ.get(s, ()) if t is not None]
        while stack:
            node_id = stack.pop()
            if node_id in seen or node_id not in self.nodes or (through is not None and node_id not in through):
                continue
            seen.add(node_id)
            stack.extend(t for t in self.succ[node_id] if t is not None)
        return seen

    def can_end(self) -> set[str]:
        """Nodes from which some path reaches an Exit node or an edge to the end."""
        ending = {n for n, node in self.nodes.items() if isinstance(node, Exit) or None in self.succ[n]}
        before: dict[str, list[str]] = {}  # edges backwards: one walk from the ends, not a pass per chain link
        for node_id, targets in self.succ.items():
            for target in targets:
                if target is not None:
                    before.setdefault(target, []).append(node_id)
        stack = list(ending)
        while stack:
            for node_id in before.get(stack.pop(), ()):
                if node_id not in ending:
                    ending.add(node_id)
                    stack.append(node_id)
        return ending


def _edge_paths(node: Node) -> Iterator[tuple[str, str | None]]:
    """(path of the field, target) for every edge, in the parser's path spelling."""
    for edge, target in node_edges(node):
        if edge.startswith("case["):
            yield f"nodes.{node.id}.cases{edge[4:]}.next", target
        elif edge.startswith("path["):
            yield f"nodes.{node.id}.paths{edge[4:]}.next", target
        else:
            yield f"nodes.{node.id}.{edge}", target


def _structure(journey: JourneyDefinition, graph: _Graph) -> Iterator[Finding]:
    nodes = journey.nodes
    for node in nodes.values():
        for path, target in _edge_paths(node):
            if target is not None and target not in nodes:
                yield _finding("unknown-target", path, f"no node named {target!r}")
    if journey.start not in nodes:
        yield _finding("unknown-target", "journey.start", f"no node named {journey.start!r}")
        return
    reachable = graph.reach([journey.start]) | {journey.start}
    for node_id in nodes:
        if node_id not in reachable:
            yield _finding("unreachable-node", f"nodes.{node_id}", f"{node_id!r} cannot be reached from the start "
                           f"node {journey.start!r}; connect it or delete it")
    ends_by_rule = journey.goal is not None or bool(journey.exit_events) or journey.exit_when is not None
    ending = graph.can_end()
    for node_id in nodes:
        if node_id in reachable and node_id not in ending:
            rule = " unless the goal or an exit rule ends them" if ends_by_rule else ""
            yield _finding("dead-end", f"nodes.{node_id}",
                           f"no exit and no end can be reached from {node_id!r}: runs here never finish{rule}",
                           "warning" if ends_by_rule else "error")
    movers = {n for n in reachable if not isinstance(nodes[n], Wait | WaitEvent)}
    reported: set[str] = set()
    for node_id in nodes:  # definition order keeps the output stable
        if node_id not in movers or node_id in reported:
            continue
        onward = graph.reach([node_id], through=movers)
        if node_id not in onward:
            continue
        cycle = [n for n in nodes if n in onward and node_id in graph.reach([n], through=movers)]
        reported.update(cycle)
        yield _finding("loop-without-wait", f"nodes.{node_id}",
                       f"{', '.join(cycle)} form a loop with no wait or wait_event; add a wait, "
                       "or the engine stops the run after 100 steps")


def _engagements(cond: Condition | None) -> Iterator[MessageEngagement]:
    if cond is not None:
        for item in walk(cond):
            if isinstance(item, MessageEngagement):
                yield item


def _messages(journey: JourneyDefinition, graph: _Graph) -> Iterator[Finding]:
    """of_message and opened/clicked must name a send node that can run before the node reading it."""
    nodes = journey.nodes
    reachable = (graph.reach([journey.start]) | {journey.start}) if journey.start in nodes else set()

    def runs_before(sender: str, reader: str) -> bool:
        return sender in reachable and reader in graph.reach([sender])

    for node in nodes.values():
        if isinstance(node, WaitEvent) and node.of_message is not None:
            path = f"nodes.{node.id}.of_message"
            if not isinstance(nodes.get(node.of_message), Send):
                yield _finding("not-a-message", path, f"{node.of_message!r} is not a send node")
            elif not runs_before(node.of_message, node.id):
                yield _finding("message-not-before", path,
                               f"{node.of_message!r} cannot run before {node.id!r}; the wait only sees its timeout")
            others = [e for e in node.events if not e.startswith("message_")]
            if others:
                yield _finding("of-message-event", f"nodes.{node.id}.events",
                               f"{', '.join(others)} carry no message id, so of_message never lets them through")
        if isinstance(node, Branch):
            for index, (cond, _) in enumerate(node.cases):
                for item in _engagements(cond):
                    path = f"nodes.{node.id}.cases[{index}].if"
                    if not isinstance(nodes.get(item.node_id), Send):
                        yield _finding("not-a-message", path,
                                       f"{item.action}: {item.node_id!r} is not a send node; the case is never true")
                    elif not runs_before(item.node_id, node.id):
                        yield _finding("message-not-before", path,
                                       f"{item.node_id!r} cannot run before {node.id!r}; the case is never true")
    for item in _engagements(journey.exit_when):
        if not isinstance(nodes.get(item.node_id), Send):
            yield _finding("not-a-message", "exit_when", f"{item.action}: {item.node_id!r} is not a send node")
    for item in _engagements(journey.trigger.audience):
        yield _finding("engagement-outside-run", "trigger.audience",
                       f"{item.action}: {item.node_id} needs a journey run; the audience is checked before entry")


def _nodes(journey: JourneyDefinition, known_templates: Collection[str] | None,
           known_journeys: Collection[str] | None, webhook_allow: AllowList) -> Iterator[Finding]:
    for node in journey.nodes.values():
        base = f"nodes.{node.id}"
        if isinstance(node, Webhook):
            problem = url_problem(node.url, webhook_allow)
            if problem is not None:
                yield _finding("unsafe-webhook-url", f"{base}.url", f"webhook {node.id!r} may not call "
                                                                    f"{node.url[:200]!r}: {problem}")
        elif isinstance(node, Send):
            if node.channel == "webhook" or "webhook" in node.fallback:
                where = "channel" if node.channel == "webhook" else "fallback"
                yield _finding("send-via-webhook", f"{base}.{where}",
                               "webhooks are not messages; use a webhook node (kind: webhook, url: …)")
            if node.channel in node.fallback or len(set(node.fallback)) != len(node.fallback):
                yield _finding("fallback-repeats-channel", f"{base}.fallback",
                               f"fallback {list(node.fallback)} repeats a channel (primary: {node.channel})")
            if not node.fallback and node.fallback_window != DEFAULT_FALLBACK_WINDOW:
                yield _finding("fallback-window-without-fallback", f"{base}.fallback_window",
                               "a hard bounce has no channel to fall back to; add fallback: [...] or drop the window")
            if known_templates is not None and node.template not in known_templates:
                yield _finding("missing-template", f"{base}.template",
                               f"no template named {node.template!r} in the template library")
        elif isinstance(node, Enrol):
            if node.journey == journey.key:
                yield _finding("self-enrol", f"{base}.journey",
                               "the contact is already in this journey; enrolling again is skipped")
            elif known_journeys is not None and node.journey not in known_journeys:
                yield _finding("unknown-journey", f"{base}.journey", f"no journey with key {node.journey!r}")
        elif isinstance(node, WaitEvent):
            if node.timeout is None:
                yield _finding("wait-without-timeout", base,
                               f"waits for {', '.join(node.events)} with no timeout: a contact can wait forever")
                if node.on_timeout is not None:
                    yield _finding("timeout-edge-ignored", f"{base}.on_timeout",
                                   "on_timeout is never taken without a timeout")
        elif isinstance(node, Branch):
            if not node.has_else:
                yield _finding("branch-without-else", base,
                               "no else: a contact that matches no case ends the journey here")
        elif isinstance(node, Split):
            total = sum(percent for percent, _ in node.paths)
            if abs(total - 100) > 1e-6:
                yield _finding("split-percentages", f"{base}.paths", f"percentages add up to {total:g}, not 100")


def _trigger(journey: JourneyDefinition, known_segments: Collection[str] | None) -> Iterator[Finding]:
    trigger = journey.trigger
    if trigger.kind == "segment" and known_segments is not None and trigger.segment not in known_segments:
        yield _finding("unknown-segment", "trigger.segment", f"there is no segment {trigger.segment!r}")
    if trigger.kind == "event" and journey.goal is not None and journey.goal.event == trigger.event:
        yield _finding("goal-is-trigger", "goal.event",
                       f"{trigger.event!r} both starts the journey and is its goal: runs may convert at once")


def lint_journey(journey: JourneyDefinition, *, known_templates: Collection[str] | None = None,
                 known_journeys: Collection[str] | None = None,
                 known_segments: Collection[str] | None = None,
                 webhook_allow: AllowList = AllowList()) -> list[Finding]:
    """Every finding for ``journey``, errors first, then by path.

    ``known_templates`` / ``known_journeys``: when given, send templates and enrol targets must be
    among them; when None those checks are skipped (no library to compare with). ``known_segments``
    likewise for a segment trigger's segment. ``webhook_allow``: the webhook channel's allow-list (hosts,
    networks), the only internal targets a webhook URL may name.
    """
    graph = _Graph(journey)
    findings = [*_structure(journey, graph), *_messages(journey, graph),
                *_nodes(journey, known_templates, known_journeys, webhook_allow), *_trigger(journey, known_segments)]
    return sorted(findings, key=lambda f: (f.severity != "error", f.path, f.code))


def alias_findings(data: Mapping[str, object]) -> list[Finding]:
    """Warnings for old channel names in a definition as written (the parsed one already has the new name)."""
    nodes = data.get("nodes")
    found: list[Finding] = []
    if not isinstance(nodes, Mapping):
        return found
    for node_id, node in nodes.items():
        if not isinstance(node, Mapping) or node.get("kind") != "send":
            continue
        fallback = node.get("fallback")
        named = [("channel", node.get("channel")),
                 *((f"fallback[{i}]", c) for i, c in enumerate(fallback if isinstance(fallback, list) else
                                                               [fallback] if fallback else []))]
        for where, channel in named:
            warning = alias_warning(channel, f"nodes.{node_id}.{where}") if isinstance(channel, str) else None
            if warning:
                found.append(_finding("channel-alias", f"nodes.{node_id}.{where}", warning.split(": ", 1)[1]))
    return found
