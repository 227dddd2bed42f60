"""The one YAML loader for everything people send or write: journeys, scenarios, personas, guardrails,
segments, assignment rules, lifecycle settings, term lists, files on the CLI.

``yaml.safe_load`` refuses code but not size: 400 bytes of chained anchors ("billion laughs") expand to
millions of values once aliases are resolved, and every later walk of the document (validation, JSON
storage) pays for all of them. This loader counts while it composes, before any object is built:

- ``size``: bytes of the document (UTF-8), checked before parsing;
- ``aliases``: alias references (``*name``) in the text;
- ``nodes``: values in the document *as if every alias were expanded* (an alias to an anchored block of
  1,000 values counts 1,000) — this is what stops the alias bomb;
- ``depth``: nesting, also as if aliases were expanded (and before the recursive composer can overflow).

It builds exactly what ``yaml.safe_load`` builds for every document within the limits. It lives in the
domain (which may import yaml) so that services, engine, API and CLI all reach the same one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import yaml
from yaml.events import AliasEvent
from yaml.nodes import Node

__all__ = ["DEFAULT_LIMITS", "YamlLimits", "YamlTooLarge", "load_yaml"]

Limit = Literal["size", "aliases", "nodes", "depth"]


@dataclass(frozen=True)
class YamlLimits:
    max_bytes: int = 2 * 1024 * 1024
    max_aliases: int = 500
    max_nodes: int = 200_000
    max_depth: int = 64


DEFAULT_LIMITS = YamlLimits()


class YamlTooLarge(ValueError):
    """A document over one of the limits; ``limit`` names which (size, aliases, nodes, depth)."""

    def __init__(self, limit: Limit, allowed: int, reason: str) -> None:
        super().__init__(f"{reason} (limit {limit}: {allowed})")
        self.limit: Limit = limit
        self.allowed = allowed
        self.reason = reason


class _CountingLoader(yaml.SafeLoader):
    """``SafeLoader`` whose composer keeps the expanded weight and height of every node it composes."""

    def __init__(self, stream: str, limits: YamlLimits) -> None:
        super().__init__(stream)
        self._limits = limits
        self._aliases = 0
        self._nodes = 0  # values so far, aliases expanded
        self._depth = 0
        self._child_height: list[int] = [0]  # per open node, the tallest child so far
        self._shape: dict[int, tuple[int, int]] = {}  # id(anchored node) -> (expanded weight, height)

    def _count(self, weight: int) -> None:
        self._nodes += weight
        if self._nodes > self._limits.max_nodes:
            raise YamlTooLarge("nodes", self._limits.max_nodes,
                               f"the document holds more than {self._limits.max_nodes} values once its aliases "
                               "are expanded")

    def _deeper(self, levels: int) -> None:
        if levels > self._limits.max_depth:
            raise YamlTooLarge("depth", self._limits.max_depth,
                               f"the document nests deeper than {self._limits.max_depth} levels")

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > self._limits.max_aliases:
                raise YamlTooLarge("aliases", self._limits.max_aliases,
                                   f"the document uses more than {self._limits.max_aliases} aliases")
            node = super().compose_node(parent, index)
            shape = self._shape.get(id(node))
            if shape is None:  # the alias sits inside its own anchor: an infinite document
                raise YamlTooLarge("aliases", self._limits.max_aliases, "an alias refers to a value that contains it")
            weight, height = shape
            self._count(weight)
            self._deeper(self._depth + height)
            self._child_height[-1] = max(self._child_height[-1], height)
            return node
        anchor = self.peek_event().anchor  # type: ignore[no-untyped-call]
        self._depth += 1
        self._deeper(self._depth)
        before = self._nodes
        self._child_height.append(0)
        node = super().compose_node(parent, index)
        height = self._child_height.pop() + 1
        self._child_height[-1] = max(self._child_height[-1], height)
        self._depth -= 1
        self._count(1)
        if anchor is not None:
            self._shape[id(node)] = (self._nodes - before, height)
        return node


def load_yaml(text: str | bytes, limits: YamlLimits = DEFAULT_LIMITS) -> Any:
    """``yaml.safe_load`` within ``limits``; raises ``YamlTooLarge`` (naming the limit) or ``yaml.YAMLError``."""
    if isinstance(text, bytes):
        size = len(text)
        text = text.decode("utf-8-sig")
    else:
        size = len(text) if len(text) * 4 <= limits.max_bytes or len(text) > limits.max_bytes \
            else len(text.encode("utf-8", "surrogatepass"))
    if size > limits.max_bytes:
        raise YamlTooLarge("size", limits.max_bytes,
                           f"the document is larger than {limits.max_bytes} bytes")
    loader = _CountingLoader(text, limits)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
