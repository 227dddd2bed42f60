"""Several nodes selected by keyboard alone on the builder's canvas in Chromium: Tab from node to node, Shift+Enter
adds the focused one to the selection (again takes it out), Ctrl+C copies the selection as YAML, Delete removes
it; each step is announced in the live region. axe-core finds no serious violation."""

from __future__ import annotations

from typing import Any

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import axe_violations, builder_canvas, needs_chromium
from tests.e2e.test_builder_browser import RULE_A, _announced
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.safe_yaml import load_yaml
from touchflow.services.journey_drafts import read_draft, save_draft


def _tab_to(page: Any, node_id: str) -> None:
    """Tab until the keyboard focus is on ``node_id`` (the canvas's nodes are in its tab order)."""
    for _ in range(40):
        if page.evaluate("() => document.activeElement.getAttribute('data-id')") == node_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {node_id}")


@needs_chromium
def test_pick_copy_and_delete_nodes_by_keyboard(app: Application, clock: VirtualClock) -> None:
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    save_draft(app.services, "rule_a_whitepaper", RULE_A, if_match=None, actor="test")
    with builder_canvas(app, clock, "zhao@example.cn", "rule_a_whitepaper", wait_for="cs_task") as canvas:
        page = canvas.page
        assert "Shift+Enter" in page.locator("#tf-pick-keys").inner_text()
        page.locator("#tf-search").focus()
        _tab_to(page, "send_digest")
        _tab_to(page, "wecom_followup")
        page.keyboard.press("Shift+Enter")
        _announced(page, "已加入选择： wecom_followup. 1 个已选")
        page.locator('[data-picked="1"]').wait_for()
        _tab_to(page, "cs_task")
        page.keyboard.press("Shift+Enter")
        _announced(page, "已加入选择： cs_task. 2 个已选")
        _tab_to(page, "engaged")
        page.keyboard.press("Shift+Enter")
        page.locator('[data-picked="3"]').wait_for()
        page.keyboard.press("Shift+Enter")  # again: out of the selection
        _announced(page, "已移出选择： engaged. 2 个已选")
        page.locator('[data-picked="2"]').wait_for()
        assert page.locator(".react-flow__node.selected").count() == 2
        page.keyboard.press("Control+c")
        _announced(page, "已复制: 2")
        page.locator("[data-paste-open]").focus()
        page.keyboard.press("Enter")
        fragment = page.locator("#tf-fragment").input_value()
        assert "wecom_followup:" in fragment and "cs_task:" in fragment and "engaged:" not in fragment
        assert axe_violations(page) == []
        _tab_to(page, "cs_task")
        page.keyboard.press("Delete")
        _announced(page, "已删除 wecom_followup, cs_task")
        page.locator('[data-node-id="cs_task"]').wait_for(state="detached")
        assert page.locator('[data-node-id="wecom_followup"]').count() == 0
        assert page.locator('[data-node-id="engaged"]').count() == 1
        page.locator("[data-save]").click()
        _announced(page, "草稿已保存")
        # a journey never published has no versions yet: that list answers 404, nothing else may fail
        assert [p for p in canvas.watch.problems if "404" not in p] == []
    nodes = load_yaml(read_draft(app.services, "rule_a_whitepaper").text)["nodes"]
    assert "cs_task" not in nodes and "wecom_followup" not in nodes and "engaged" in nodes
