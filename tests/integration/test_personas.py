"""Personas on a real database: linked journeys and segments must exist; coverage over live contacts
crosses the 80% target as the personas grow; a segment-defined persona counts the segment's members."""

from __future__ import annotations

from typing import Any

import pytest

from touchflow.bootstrap import Application
from touchflow.domain.scoring.personas import PersonaError
from touchflow.services.ingest import RawItem, upsert_contacts
from touchflow.services.journeys import publish_journey
from touchflow.services.personas import (
    PersonaNotFound,
    export_journey_map,
    list_personas,
    persona_coverage,
    save_persona,
    show_persona,
)
from touchflow.services.segments import create_segment

PROFILE = {"basic_attributes": "制造业 IT 负责人", "interests": "数字化", "behaviour_habits": "看公众号",
           "pain_points": "预算", "core_needs": "案例"}
WELCOME = """
key: mfg_welcome
name: 制造业欢迎
trigger:
  event: signup
nodes:
  hello:
    kind: send
    channel: email
    template: welcome
    next: done
  done:
    kind: exit
"""


def persona(key: str, condition: Any = None, segment: str | None = None, journeys: list[str] | None = None
            ) -> dict[str, Any]:
    data: dict[str, Any] = {"key": key, "name": key.upper(), "profile": PROFILE, "map": {"stages": [
        {"stage": "认知", "emotion": "好奇", "touchpoints": ["官网"], "behaviours": ["search"],
         "trigger": {"event": "signup"}, "expected_action": "注册", "journeys": journeys or []}]}}
    if segment is not None:
        data["segment"] = segment
    else:
        data["condition"] = condition
    return data


def population(app: Application) -> None:
    """10 contacts: 5 in manufacturing (2 of them in 上海), 2 more in 上海, 1 in finance, 2 with nothing known."""
    rows = [{"email": f"m{i}@x.cn", "industry": "制造业", "city": "上海" if i < 2 else "成都"} for i in range(5)]
    rows += [{"email": f"s{i}@x.cn", "city": "上海"} for i in range(2)]
    rows += [{"email": "f0@x.cn", "industry": "金融"}, {"email": "u0@x.cn"}, {"email": "u1@x.cn"}]
    report = upsert_contacts(app.services, "crm", [RawItem(r) for r in rows])
    assert report.created == 10 and not report.rejected


def test_linked_journeys_must_exist(app: Application) -> None:
    with pytest.raises(PersonaError) as info:
        save_persona(app.services, persona("mfg", {"attr": "industry", "eq": "制造业"}, journeys=["mfg_welcome"]),
                     actor="planner")
    assert info.value.path == "map.stages[0].journeys[0]"
    assert list_personas(app.services) == []
    publish_journey(app.services, WELCOME, actor="test")
    saved = save_persona(app.services, persona("mfg", {"attr": "industry", "eq": "制造业"},
                                               journeys=["mfg_welcome"]), actor="planner")
    assert saved.created and saved.updated_by == "planner"
    again = save_persona(app.services, persona("mfg", {"attr": "industry", "eq": "制造业"}), actor="lead")
    assert not again.created and again.created_at == saved.created_at
    assert show_persona(app.services, "mfg").persona.journey_map.stages[0].journeys == ()
    with pytest.raises(PersonaNotFound):
        show_persona(app.services, "nobody")


def test_coverage_crosses_80_percent_as_personas_are_added(app: Application) -> None:
    population(app)
    save_persona(app.services, persona("mfg", {"attr": "industry", "eq": "制造业"}), actor="planner")
    save_persona(app.services, persona("shanghai", {"attr": "city", "eq": "上海"}), actor="planner")
    report = persona_coverage(app.services)
    assert (report.total, report.covered, report.in_several) == (10, 7, 2)
    assert [(p.key, p.members, p.only_here) for p in report.personas] == [("mfg", 5, 3), ("shanghai", 4, 2)]
    assert [(o.first, o.second, o.both) for o in report.overlaps] == [("mfg", "shanghai", 2)]
    assert report.share == 0.7 and not report.meets_target
    save_persona(app.services, persona("finance", {"attr": "industry", "eq": "金融"}), actor="planner")
    report = persona_coverage(app.services)
    assert report.covered == 8 and report.share == 0.8 and report.meets_target


def test_a_persona_defined_by_a_segment_counts_its_members(app: Application) -> None:
    population(app)
    with pytest.raises(PersonaError, match="no segment 'sh'"):
        save_persona(app.services, persona("sh", segment="sh"), actor="planner")
    create_segment(app.services, {"key": "sh", "name": "上海", "kind": "dynamic",
                                  "condition": {"attr": "city", "eq": "上海"}}, actor="planner")
    save_persona(app.services, persona("sh", segment="sh"), actor="planner")
    (count,) = persona_coverage(app.services).personas
    assert (count.key, count.members) == ("sh", 4)
    assert "`{event: signup, count: '>= 1'}`" in export_journey_map(app.services, "sh", "md")
    assert export_journey_map(app.services, "sh", "csv").startswith("stage,emotion,")
