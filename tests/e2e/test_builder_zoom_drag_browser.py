"""Dragging nodes on the builder's canvas after zooming in Chromium: the moves the canvas sends are accepted and the
layout key gets whole pixels, so the saved text keeps its exact round trip."""

from __future__ import annotations

from typing import Any

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import axe_violations, builder_canvas, needs_chromium
from tests.e2e.test_builder_browser import RULE_A, _announced
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.journeys.document import format_text
from touchflow.domain.safe_yaml import load_yaml
from touchflow.services.journey_drafts import read_draft, save_draft


def _drag(page: Any, node_id: str, dx: float, dy: float) -> None:
    box = page.locator(f'.react-flow__node[data-id="{node_id}"]').bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + 8
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx / 3, y + dy / 3, steps=4)
    page.mouse.move(x + dx, y + dy, steps=8)
    page.mouse.up()


@needs_chromium
def test_drag_after_zooming_saves_whole_pixels(app: Application, clock: VirtualClock) -> None:
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    save_draft(app.services, "rule_a_whitepaper", RULE_A, if_match=None, actor="test")
    with builder_canvas(app, clock, "zhao@example.cn", "rule_a_whitepaper", wait_for="send_digest") as canvas:
        page = canvas.page
        assert axe_violations(page) == []  # before nodes are dragged under the corner's attribution link
        page.locator(".react-flow__controls-zoomin").click()  # one zoom step: positions stop being whole pixels
        page.wait_for_timeout(400)
        _drag(page, "send_digest", 37, 23)
        _announced(page, "已移动 send_digest")
        _drag(page, "wait_engagement", -31, 17)
        _announced(page, "已移动 wait_engagement")
        assert "ops[0]" not in str(page.locator("[data-announce]").text_content())
        page.locator("[data-save]").click()
        _announced(page, "草稿已保存")
        # a journey never published has no versions yet: that list answers 404, nothing else may fail
        assert [p for p in canvas.watch.problems if "404" not in p] == []
    saved = read_draft(app.services, "rule_a_whitepaper").text
    assert format_text(saved) == saved
    layout = load_yaml(saved)["layout"]
    assert all(isinstance(v, int) for spot in layout.values() for v in spot.values()), layout
    assert set(layout) == {"send_digest", "wait_engagement"}  # auto-laid-out until moved
