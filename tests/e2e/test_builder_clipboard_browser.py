"""Multi-select, copy / paste of sub-graphs as YAML (within a journey and into another one) and sticky notes on the
builder's canvas in Chromium; undo and redo take them back and forth; the saved text keeps its round trip."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import axe_violations, builder_canvas, needs_chromium
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.journeys.document import format_text
from touchflow.domain.journeys.fragments import notes_of
from touchflow.domain.safe_yaml import load_yaml
from touchflow.services.journey_drafts import read_draft, save_draft

RULE_A = (Path(__file__).parents[2] / "examples" / "journeys" / "rule_a_whitepaper.yaml").read_text(encoding="utf-8")
OTHER = "key: other_journey\ntrigger: {event: signup}\nnodes:\n  hello: {kind: send, channel: email, template: t}\n"


@needs_chromium
def test_select_copy_paste_notes_undo(app: Application, clock: VirtualClock) -> None:
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    save_draft(app.services, "rule_a_whitepaper", RULE_A, if_match=None, actor="test")
    save_draft(app.services, "other_journey", OTHER, if_match=None, actor="test")
    with builder_canvas(app, clock, "zhao@example.cn", "rule_a_whitepaper", wait_for="wecom_followup") as canvas:
        page, url = canvas.page, canvas.base
        # box select: Shift + drag over the whole canvas picks every node
        box = page.locator(".react-flow__pane").bounding_box()
        assert box is not None
        page.keyboard.down("Shift")
        page.mouse.move(box["x"] + 2, box["y"] + 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=5)
        page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] - 2, steps=5)
        page.mouse.up()
        page.keyboard.up("Shift")
        page.locator('[data-picked="6"]').wait_for()
        page.mouse.click(box["x"] + 5, box["y"] + box["height"] - 5)  # the empty canvas drops the selection
        page.locator('[data-picked="0"]').wait_for()
        page.locator('[data-node-id="wecom_followup"]').click()
        page.locator('[data-picked="1"]').wait_for()
        page.locator('[data-node-id="cs_task"]').click(modifiers=["Shift"])
        page.locator('[data-picked="2"]').wait_for()
        page.locator("[data-copy]").click()
        page.locator("[data-announce]", has_text="已复制").wait_for()
        page.locator("[data-paste-open]").click()
        fragment = page.locator("#tf-fragment").input_value()
        assert "wecom_followup:" in fragment and "cs_task:" in fragment and "next: done" not in fragment
        page.locator("[data-paste-go]").click()
        page.locator('[data-node-id="cs_task_2"]').wait_for()
        assert page.locator('[data-node-id="wecom_followup_2"]').count() == 1
        page.locator('[data-picked="2"]').wait_for()  # the copy is what is selected now
        page.get_by_role("button", name="撤销").click()
        page.locator('[data-node-id="cs_task_2"]').wait_for(state="detached")
        page.get_by_role("button", name="重做").click()
        page.locator('[data-node-id="cs_task_2"]').wait_for()

        page.locator("[data-add-note]").click()
        note = page.locator('[data-note-id="n1"] textarea')
        note.wait_for()
        note.fill("周五前请法务确认文案")
        page.locator("#tf-search").click()  # leaving the note saves its text
        page.locator("[data-yaml]", has_text="周五前请法务确认文案").wait_for(state="attached")
        assert axe_violations(page) == []
        page.locator("[data-save]").click()
        page.locator("[data-announce]", has_text="草稿已保存").wait_for()
        saved = read_draft(app.services, "rule_a_whitepaper").text
        assert format_text(saved) == saved and saved.startswith(RULE_A.split("layout:")[0].rstrip("\n")[:200])
        data = load_yaml(saved)
        assert data["nodes"]["wecom_followup_2"]["next"] == "cs_task_2"
        assert notes_of(data) == [{"id": "n1", "x": 0, "y": -120, "text": "周五前请法务确认文案"}]

        # into another journey: the paste dialog offers what was copied last (this browser's storage)
        page.goto(f"{url}/journeys/other_journey/builder")
        page.locator('[data-node-id="hello"]').wait_for()
        page.locator('[data-node-id="hello"]').click()
        page.keyboard.press("Control+v")
        page.locator("[data-paste-dialog]").wait_for()
        assert "wecom_followup:" in page.locator("#tf-fragment").input_value()
        page.locator("[data-paste-go]").click()
        page.locator('[data-node-id="wecom_followup"]').wait_for()  # a free id is kept
