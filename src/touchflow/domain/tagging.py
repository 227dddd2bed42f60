"""Rule-based tagging configured as data (D2 标签化), with tags that follow corrections.

A tag set by a rule carries that rule's name; when the contact no longer matches (say the
industry was corrected), the rule's tag is removed. Tags set by people or sources are never
touched by rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from touchflow.domain.contacts import ContactState, Scalar

__all__ = ["DEFAULT_TAG_RULES", "TagRule", "apply_tag_rules"]

Operator = Literal["equals", "in", "contains", "gte", "lte", "present"]


@dataclass(frozen=True)
class TagRule:
    name: str
    field: str
    op: Operator
    value: Scalar | tuple[Scalar, ...] | None
    tag: str

    def matches(self, values: dict[str, Scalar]) -> bool:
        actual = values.get(self.field)
        if actual is None:
            return False
        if self.op == "present":
            return True
        if self.op == "equals":
            return actual == self.value
        if self.op == "in":
            return isinstance(self.value, tuple) and actual in self.value
        if self.op == "contains":
            return isinstance(actual, str) and isinstance(self.value, str) and self.value in actual
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return False
        if not isinstance(self.value, int | float):
            return False
        return actual >= self.value if self.op == "gte" else actual <= self.value

    @property
    def source(self) -> str:
        return f"rule:{self.name}"


DEFAULT_TAG_RULES: tuple[TagRule, ...] = (
    TagRule("industry-manufacturing", "industry", "equals", "制造业", "manufacturing"),
    TagRule("industry-it", "industry", "equals", "信息技术", "it"),
    TagRule("industry-finance", "industry", "equals", "金融", "finance"),
    TagRule("industry-healthcare", "industry", "equals", "医疗健康", "healthcare"),
    TagRule("title-decision-maker", "job_title", "in",
            ("总经理", "CEO", "CTO", "CIO", "总监", "副总裁", "VP", "董事长", "厂长"), "decision_maker"),
    TagRule("region-east", "province", "in", ("上海", "江苏", "浙江", "安徽", "山东", "福建"), "east_china"),
)


def apply_tag_rules(state: ContactState, rules: Iterable[TagRule]) -> bool:
    """Add the tags of matching rules, drop rule tags that no longer match; True when changed."""
    changed = False
    for rule in rules:
        owner = state.tags.get(rule.tag)
        if rule.matches(state.values):
            if owner is None:
                state.tags[rule.tag] = rule.source
                changed = True
        elif owner == rule.source:
            del state.tags[rule.tag]
            changed = True
    return changed
