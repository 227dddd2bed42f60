"""The condition builder's form → segment data in the condition language (docs/subsystems/conditions.md).

The builder is rows of one condition each (attribute, tag, stage, event in a window, no event, another segment),
joined by ``all`` or ``any``; or, for what rows cannot say, the condition written as YAML. This module only
turns form fields into the data ``parse_segment`` reads: the parser names what is wrong, the page shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from touchflow.console.i18n import N_
from touchflow.domain.errors import PathError
from touchflow.domain.safe_yaml import load_yaml

__all__ = ["ATTR_OPS", "KINDS", "MAX_ROWS", "Builder", "Row", "read_builder"]

MAX_ROWS = 12
KINDS = {"attr": N_("Attribute"), "tag": N_("Tag"), "stage": N_("Lifecycle stage"), "event": N_("Event happened"),
         "no": N_("Event did not happen"), "in_segment": N_("In another segment")}
ATTR_OPS = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "in": N_("one of"),
            "contains": N_("contains"), "exists": N_("has a value"), "not_exists": N_("has no value")}
_COUNTS = (">= 1", ">= 2", ">= 3", ">= 5", "= 0", "<= 1")


@dataclass
class Row:
    kind: str = "attr"
    field: str = ""
    op: str = "eq"
    value: str = ""
    count: str = ">= 1"
    within: str = ""


@dataclass
class Builder:
    key: str = ""
    name: str = ""
    kind: str = "dynamic"
    join: str = "all"
    rows: list[Row] = field(default_factory=lambda: [Row()])
    advanced: str = ""  # the condition as YAML; when given, it is the condition (rows are ignored)
    counts: tuple[str, ...] = _COUNTS

    def data(self, *, for_preview: bool = False) -> dict[str, Any]:
        """Segment data; a preview of an unnamed draft gets a placeholder key and name."""
        data: dict[str, Any] = {"key": self.key or ("draft" if for_preview else ""),
                                "name": self.name or ("draft" if for_preview else ""), "kind": self.kind}
        if self.kind == "dynamic":
            data["condition"] = self.condition()
        return data

    def condition(self) -> object:
        if self.advanced.strip():
            try:
                return load_yaml(self.advanced)
            except (yaml.YAMLError, ValueError) as exc:
                raise PathError("segment.condition", f"not readable YAML ({exc})") from None
        parts = [_row_condition(row, n) for n, row in enumerate(self.rows) if row.field.strip()]
        if not parts:
            raise PathError("segment.condition", "add at least one condition")
        return parts[0] if len(parts) == 1 else {self.join: parts}


def _scalar(text: str) -> object:
    """``30`` → 30, ``true`` → True, anything else as written (``上海``, ``2026-01-01``)."""
    text = text.strip()
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text
    return value if isinstance(value, int | float | bool) and not isinstance(value, str) else text


def _row_condition(row: Row, n: int) -> dict[str, Any]:
    name = row.field.strip()
    where = f"rows[{n + 1}]"
    if row.kind == "attr":
        if row.op not in ATTR_OPS:
            raise PathError(f"{where}.op", f"unknown operator {row.op!r}")
        if row.op in ("exists", "not_exists"):
            return {"attr": name, row.op: True}
        if row.op == "in":
            return {"attr": name, "in": [_scalar(v) for v in row.value.replace("，", ",").split(",") if v.strip()]}
        return {"attr": name, row.op: _scalar(row.value)}
    if row.kind == "tag":
        return {"tag": name}
    if row.kind == "stage":
        stages = [s.strip() for s in name.replace("，", ",").split(",") if s.strip()]
        return {"stage": stages[0] if len(stages) == 1 else stages}
    if row.kind in ("event", "no"):
        found: dict[str, Any] = {row.kind: name}
        if row.kind == "event" and row.count.strip() and row.count.strip() != ">= 1":
            found["count"] = row.count.strip()
        if row.within.strip():
            found["within"] = row.within.strip()
        return found
    if row.kind == "in_segment":
        return {"in_segment": name}
    raise PathError(f"{where}.kind", f"unknown kind {row.kind!r}")


def read_builder(form: dict[str, str]) -> Builder:
    """The builder as posted; ``add`` appends an empty row, ``remove=N`` drops row N (htmx re-renders it)."""
    try:
        count = min(max(int(form.get("rows", "1")), 0), MAX_ROWS)
    except ValueError:
        count = 1
    rows = [Row(form.get(f"r{i}_kind", "attr"), form.get(f"r{i}_field", "")[:200], form.get(f"r{i}_op", "eq"),
                form.get(f"r{i}_value", "")[:1000], form.get(f"r{i}_count", ">= 1")[:20],
                form.get(f"r{i}_within", "")[:20]) for i in range(count)]
    if form.get("remove", "").isdigit() and int(form["remove"]) < len(rows):
        del rows[int(form["remove"])]
    if "add" in form and len(rows) < MAX_ROWS:
        rows.append(Row())
    return Builder(form.get("key", "").strip(), form.get("name", "").strip(),
                   "static" if form.get("kind") == "static" else "dynamic",
                   "any" if form.get("join") == "any" else "all", rows or [Row()], form.get("advanced", ""))
