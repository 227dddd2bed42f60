"""Personas and journey maps, pure: parsing with errors that name the element, coverage math, exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest

from touchflow.domain.conditions.predicates import AttrCompare, EventCount
from touchflow.domain.journeys.maps import render_csv, render_markdown
from touchflow.domain.scoring.personas import PersonaError, coverage, parse_persona, persona_to_data

PROFILE = {"basic_attributes": "30–45 岁，制造业 IT 经理", "interests": "工业互联网, 数字化转型",
           "behaviour_habits": "工作日早上看公众号", "pain_points": "预算审批长, 怕实施失败",
           "core_needs": "可落地的案例与 ROI 测算"}


def persona(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "key": "it_manager", "name": "制造业IT经理", "profile": dict(PROFILE),
        "condition": {"attr": "industry", "eq": "制造业"},
        "map": {"stages": [
            {"stage": "认知", "emotion": "好奇", "touchpoints": ["百度搜索", "官网"], "behaviours": ["search"],
             "trigger": {"event": "page_view", "within": "7d"}, "expected_action": "下载白皮书",
             "journeys": ["welcome"]},
            {"stage": "考虑", "emotion": "犹豫", "touchpoints": ["公众号", "销售电话"],
             "behaviours": ["register", "consult"],
             "trigger": {"event": "content_download", "count": ">= 2", "within": "30d"},
             "expected_action": "预约演示 | demo", "journeys": ["rule_a", "nurture"]},
            {"stage": "决策", "emotion": "满意", "touchpoints": ["销售"], "behaviours": ["purchase", "repurchase"],
             "expected_action": "签约\n首单", "journeys": []},
        ]},
    }
    data.update(over)
    return data


def test_a_persona_reads_back_equal_and_keeps_its_condition() -> None:
    p = parse_persona(persona())
    assert p.condition == AttrCompare("industry", "eq", "制造业") and p.segment is None
    assert p.journey_map.stages[1].trigger == EventCount("content_download", "gte", 2, within=timedelta(days=30))
    assert parse_persona(persona_to_data(p)) == p
    by_segment = parse_persona({**{k: v for k, v in persona().items() if k != "condition"}, "segment": "mfg"})
    assert by_segment.segment == "mfg" and by_segment.condition is None


@pytest.mark.parametrize(("change", "path"), [
    ({"key": "IT Manager"}, "key"),
    ({"profile": {**PROFILE, "core_needs": " "}}, "profile.core_needs"),
    ({"profile": {**PROFILE, "hobbies": "x"}}, "profile.hobbies"),
    ({"segment": "mfg"}, "condition"),  # both a condition and a segment
    ({"condition": {"attr": "industry", "like": "制造"}}, "condition"),
    ({"condition": {"opened": "send_x"}}, "condition"),
    ({"map": {"stages": [{"stage": "认知", "emotion": "好奇", "expected_action": "x", "behaviours": ["browse"]}]}},
     "map.stages[0].behaviours[0]"),
    ({"map": {"stages": [{"stage": "认知", "emotion": "好奇", "expected_action": "x"},
                         {"stage": "认知", "emotion": "关注", "expected_action": "y"}]}}, "map.stages[1].stage"),
    ({"map": {"stages": [{"stage": "认知", "emotion": "好奇", "expected_action": "x",
                          "trigger": {"event": "x", "count": "lots"}}]}}, "map.stages[0].trigger.count"),
    ({"map": {"stages": [{"stage": "认知", "expected_action": "x"}]}}, "map.stages[0].emotion"),
])
def test_an_unusable_persona_names_the_element(change: dict[str, Any], path: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_persona(persona(**change))
    assert str(info.value).startswith(path), str(info.value)


def test_no_condition_and_no_segment_is_refused() -> None:
    data = {k: v for k, v in persona().items() if k != "condition"}
    with pytest.raises(PersonaError, match="exactly one of condition"):
        parse_persona(data)


def test_coverage_counts_each_contact_once_and_reports_overlaps() -> None:
    report = coverage(10, {"a": ["1", "2", "3", "4"], "b": ["3", "4", "5"], "c": ["5", "6"]})
    assert (report.covered, report.uncovered, report.in_several) == (6, 4, 3)  # 3, 4 and 5
    assert report.share == 0.6 and not report.meets_target
    assert [(p.key, p.members, p.only_here) for p in report.personas] == [("a", 4, 2), ("b", 3, 0), ("c", 2, 1)]
    assert [(o.first, o.second, o.both) for o in report.overlaps] == [("a", "b", 2), ("b", "c", 1)]


def test_coverage_crosses_the_80_percent_target_exactly_at_80() -> None:
    members = {"a": [str(i) for i in range(70)], "b": [str(i) for i in range(60, 79)]}
    below = coverage(100, members)
    assert below.covered == 79 and not below.meets_target
    at = coverage(100, {**members, "c": ["79"]})
    assert at.covered == 80 and at.share == 0.8 and at.meets_target
    assert not coverage(0, {}).meets_target
    with pytest.raises(ValueError, match="only 1"):
        coverage(1, {"a": ["x", "y"]})


GOLDEN_MD = """# 用户旅程地图 Journey map — 制造业IT经理 (it_manager)

## 用户画像 Persona

**基本属性 Basic attributes**: 30–45 岁，制造业 IT 经理

**兴趣偏好 Interests**: 工业互联网, 数字化转型

**行为习惯 Behaviour habits**: 工作日早上看公众号

**决策痛点 Decision pain points**: 预算审批长, 怕实施失败

**核心需求 Core needs**: 可落地的案例与 ROI 测算

## 阶段 Stages

| 阶段 Stage | 情绪 Emotion | 触点 Touchpoints | 行为 Behaviours | 触发条件 Trigger | 预期动作 Expected action | 旅程 Journeys |
| --- | --- | --- | --- | --- | --- | --- |
| 认知 | 好奇 | 百度搜索; 官网 | 搜索 search | `{event: page_view, count: '>= 1', within: 7d}` | 下载白皮书 | `welcome` |
| 考虑 | 犹豫 | 公众号; 销售电话 | 注册 register; 咨询 consult | `{event: content_download, count: '>= 2', within: 30d}` | 预约演示 \\| demo | `rule_a`, `nurture` |
| 决策 | 满意 | 销售 | 购买 purchase; 复购 repurchase |   | 签约<br>首单 |   |
"""  # noqa: E501

GOLDEN_CSV = (
    "stage,emotion,touchpoints,behaviours,trigger,expected_action,journeys\r\n"
    "认知,好奇,百度搜索; 官网,搜索 search,\"{event: page_view, count: '>= 1', within: 7d}\",下载白皮书,welcome\r\n"
    "考虑,犹豫,公众号; 销售电话,注册 register; 咨询 consult,"
    "\"{event: content_download, count: '>= 2', within: 30d}\",预约演示 | demo,rule_a; nurture\r\n"
    "决策,满意,销售,购买 purchase; 复购 repurchase,,\"签约\n首单\",\r\n"
)


def test_markdown_export_matches_the_golden_document() -> None:
    p = parse_persona(persona())
    assert render_markdown(f"{p.name} ({p.key})", p.journey_map, p.profile.modules()) == GOLDEN_MD


def test_csv_export_matches_the_golden_file_and_reads_back() -> None:
    p = parse_persona(persona())
    text = render_csv(p.journey_map)
    assert text == GOLDEN_CSV
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["stage"] for r in rows] == ["认知", "考虑", "决策"]
    assert rows[2]["expected_action"] == "签约\n首单"


def test_an_empty_map_exports_a_header_only() -> None:
    p = parse_persona(persona(map=None))
    assert render_csv(p.journey_map) == "stage,emotion,touchpoints,behaviours,trigger,expected_action,journeys\r\n"
    assert render_markdown("x", p.journey_map).endswith("_No stages yet._\n")
