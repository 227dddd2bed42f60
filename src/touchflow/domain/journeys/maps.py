"""Journey maps (S4): per persona, stages × touchpoints × behaviour nodes × emotion, each stage with its
trigger condition, the action we expect, and the journeys that implement it; rendered as Markdown and CSV.

The trigger is written in the one condition language, so the map says exactly what the linked journey's
trigger should say; the renderers are pure so the CLI and the API export the same bytes.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

from touchflow.domain.conditions.parse import condition_to_data, parse_condition
from touchflow.domain.conditions.predicates import Condition
from touchflow.domain.csv_cells import write_rows
from touchflow.domain.errors import PathError

__all__ = [
    "BEHAVIOURS",
    "CSV_HEADER",
    "DEFAULT_EMOTIONS",
    "JourneyMap",
    "MapStage",
    "condition_text",
    "journey_map_to_data",
    "linked_journeys",
    "parse_journey_map",
    "render_csv",
    "render_markdown",
]

BEHAVIOURS: Mapping[str, str] = {  # behaviour nodes a stage may hold, with the label a map shows
    "search": "搜索 search", "register": "注册 register", "consult": "咨询 consult",
    "purchase": "购买 purchase", "repurchase": "复购 repurchase",
}
DEFAULT_EMOTIONS = ("好奇", "关注", "犹豫", "决策", "满意", "流失")  # the usual emotional arc, for templates
CSV_HEADER = ("stage", "emotion", "touchpoints", "behaviours", "trigger", "expected_action", "journeys")
_STAGE_FIELDS = ("stage", "emotion", "touchpoints", "behaviours", "trigger", "expected_action", "journeys")
_JOURNEY_KEY = re.compile(r"[A-Za-z0-9_\-.]{1,64}")


class MapError(PathError):
    pass


@dataclass(frozen=True)
class MapStage:
    stage: str  # 认知, 考虑 … or the emotional arc's names
    emotion: str  # 好奇, 关注, 犹豫, 决策, 满意, 流失 or any word
    touchpoints: tuple[str, ...]  # 百度搜索, 官网, 公众号, 销售电话 …
    behaviours: tuple[str, ...]  # keys of BEHAVIOURS
    trigger: Condition | None  # what moves a contact into this stage
    expected_action: str
    journeys: tuple[str, ...]  # keys of the journeys that implement the stage


@dataclass(frozen=True)
class JourneyMap:
    stages: tuple[MapStage, ...] = ()


def _words(data: Mapping[str, object], name: str, path: str) -> tuple[str, ...]:
    raw = data.get(name, [])
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(v, str) and v.strip() for v in raw):
        raise MapError(f"{path}.{name}", "a list of texts")
    return tuple(dict.fromkeys(str(v).strip() for v in raw))


def _stage(data: object, path: str) -> MapStage:
    if not isinstance(data, Mapping):
        raise MapError(path, f"a mapping with {', '.join(_STAGE_FIELDS)}")
    unknown = sorted(set(map(str, data)) - set(_STAGE_FIELDS))
    if unknown:
        raise MapError(f"{path}.{unknown[0]}", f"unknown field; a stage has {', '.join(_STAGE_FIELDS)}")
    texts = {}
    for name in ("stage", "emotion", "expected_action"):
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise MapError(f"{path}.{name}", "write some text")
        texts[name] = value.strip()
    behaviours = _words(data, "behaviours", path)
    for i, b in enumerate(behaviours):
        if b not in BEHAVIOURS:
            raise MapError(f"{path}.behaviours[{i}]", f"unknown behaviour {b!r}; one of {', '.join(BEHAVIOURS)}")
    journeys = _words(data, "journeys", path)
    for i, key in enumerate(journeys):
        if not _JOURNEY_KEY.fullmatch(key):
            raise MapError(f"{path}.journeys[{i}]", f"{key!r} is not a journey key")
    trigger = parse_condition(data["trigger"], f"{path}.trigger") if data.get("trigger") is not None else None
    return MapStage(texts["stage"], texts["emotion"], _words(data, "touchpoints", path), behaviours, trigger,
                    texts["expected_action"], journeys)


def parse_journey_map(data: object, path: str = "map") -> JourneyMap:
    """A map from YAML/JSON data (``{stages: [...]}`` or a bare list of stages); None gives an empty map."""
    if data is None:
        return JourneyMap()
    if isinstance(data, Mapping):
        extra = sorted(set(map(str, data)) - {"stages"})
        if extra:
            raise MapError(f"{path}.{extra[0]}", "unknown field; a map has stages")
        data = data.get("stages", [])
        path = f"{path}.stages"
    if not isinstance(data, list):
        raise MapError(path, "a list of stages")
    stages = tuple(_stage(item, f"{path}[{i}]") for i, item in enumerate(data))
    names = [s.stage for s in stages]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise MapError(f"{path}[{i}].stage", f"stage {name!r} appears twice")
    return JourneyMap(stages)


def journey_map_to_data(journey_map: JourneyMap) -> dict[str, object]:
    stages: list[dict[str, object]] = []
    for s in journey_map.stages:
        item: dict[str, object] = {"stage": s.stage, "emotion": s.emotion, "touchpoints": list(s.touchpoints),
                                   "behaviours": list(s.behaviours)}
        if s.trigger is not None:
            item["trigger"] = condition_to_data(s.trigger)
        item["expected_action"] = s.expected_action
        item["journeys"] = list(s.journeys)
        stages.append(item)
    return {"stages": stages}


def linked_journeys(journey_map: JourneyMap) -> list[str]:
    """Every journey key the map links to, in first-mention order (the service checks they exist)."""
    return list(dict.fromkeys(k for s in journey_map.stages for k in s.journeys))


def condition_text(cond: Condition | None) -> str:
    """A condition as one line of flow YAML (``{event: signup, within: 7d}``), the way marketers write it."""
    if cond is None:
        return ""
    text = yaml.safe_dump(condition_to_data(cond), default_flow_style=True, allow_unicode=True,
                          sort_keys=False, width=1_000_000)
    return text.strip()


def _row(s: MapStage) -> tuple[str, ...]:
    return (s.stage, s.emotion, "; ".join(s.touchpoints), "; ".join(BEHAVIOURS[b] for b in s.behaviours),
            condition_text(s.trigger), s.expected_action, "; ".join(s.journeys))


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>") or " "


def render_markdown(title: str, journey_map: JourneyMap, profile: Sequence[tuple[str, str]] = ()) -> str:
    """The map as a Markdown document: the persona card, then one table row per stage."""
    lines = [f"# 用户旅程地图 Journey map — {title}", ""]
    if profile:
        lines += ["## 用户画像 Persona", ""]
        for heading, text in profile:
            lines += [f"**{heading}**: {text}", ""]
    lines += ["## 阶段 Stages", ""]
    if not journey_map.stages:
        return "\n".join([*lines, "_No stages yet._", ""])
    lines.append("| 阶段 Stage | 情绪 Emotion | 触点 Touchpoints | 行为 Behaviours | 触发条件 Trigger "
                 "| 预期动作 Expected action | 旅程 Journeys |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- |")
    for s in journey_map.stages:
        stage, emotion, touchpoints, behaviours, trigger, action, _ = _row(s)
        cells = [stage, emotion, touchpoints, behaviours, f"`{trigger}`" if trigger else "",
                 action, ", ".join(f"`{k}`" for k in s.journeys)]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join([*lines, ""])


def render_csv(journey_map: JourneyMap) -> str:
    """The map as CSV (RFC 4180, CRLF rows), one row per stage, lists joined with ``; ``; a cell a spreadsheet
    would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first) is neutralised (domain/csv_cells.py)."""
    out = io.StringIO()
    write_rows(out, [CSV_HEADER, *(_row(s) for s in journey_map.stages)])
    return out.getvalue()
