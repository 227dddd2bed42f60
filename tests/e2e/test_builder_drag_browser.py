"""Rule A drawn with the mouse alone in Chromium: every node dragged from the palette onto an empty canvas,
every edge drawn by dragging from a node's way-out handle onto the next node's entry handle; the saved draft
equals examples/journeys/rule_a_whitepaper.yaml as parsed (the layout key aside)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import live_chromium, needs_chromium
from tests.e2e.test_builder_browser import PAGE, RULE_A, _announced, _wait_yaml
from tests.e2e.test_console_browser_work import _sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.safe_yaml import load_yaml
from touchflow.services.content import save_template
from touchflow.services.journey_drafts import read_draft

# where each node is dropped on the pane (pixels from its top-left corner) and what its side panel gets
NODES: tuple[tuple[str, str, tuple[int, int], dict[str, str]], ...] = (
    ("send", "send_digest", (30, 20), {"channel": "email", "template": "whitepaper_digest", "fallback": '["sms"]',
                                       "retry": '{"attempts": 3, "backoff": "10m"}'}),
    ("wait_event", "wait_engagement", (30, 230), {"events": '["message_opened", "message_clicked"]',
                                                  "of_message": "send_digest", "timeout": "3d"}),
    ("send", "wecom_followup", (300, 300), {"channel": "wecom", "template": "whitepaper_followup_cs"}),
    ("task", "cs_task", (300, 470), {"queue": "service", "title": "白皮书下载未打开邮件，企微跟进", "sla": "2h"}),
    ("update_contact", "engaged", (30, 440), {"add_tags": '["whitepaper_engaged"]'}),
    ("exit", "done", (560, 470), {}),
)
EDGES = (("send_digest", "next", "wait_engagement"), ("wait_engagement", "on_event", "engaged"),
         ("wait_engagement", "on_timeout", "wecom_followup"), ("wecom_followup", "next", "cs_task"),
         ("cs_task", "next", "done"), ("engaged", "next", "done"))


def _centre(page: Any, selector: str) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag_node(page: Any, kind: str, node_id: str, spot: tuple[int, int]) -> None:
    """A palette kind dragged onto the pane (HTML5 drag and drop); the id comes from the add form's field."""
    page.locator("#tf-add-id").fill(node_id)
    page.locator(f'[data-palette="{kind}"]').drag_to(page.locator(".react-flow__pane"),
                                                     target_position={"x": spot[0], "y": spot[1]})
    page.locator(f'[data-node-id="{node_id}"]').wait_for()


def drag_edge(page: Any, source: str, edge: str, target: str) -> None:
    """Press on the source node's handle for ``edge``, move in steps (React Flow follows mousemove on the
    document), release over the target node's entry handle: what a person does with the mouse."""
    x, y = _centre(page, f'.react-flow__node[data-id="{source}"] .react-flow__handle[data-handleid="{edge}"]')
    tx, ty = _centre(page, f'.react-flow__node[data-id="{target}"] .react-flow__handle.target')
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 5, y + 5, steps=2)
    page.mouse.move(tx, ty, steps=12)
    page.mouse.up()
    _announced(page, f"{source} → {target}")


@needs_chromium
def test_rule_a_by_drag_and_drop_from_an_empty_canvas(app: Application, clock: VirtualClock) -> None:
    for name, channel in (("whitepaper_digest", "email"), ("whitepaper_followup_cs", "wecom")):
        save_template(app.services, name, channel, "白皮书精选", "{{ contact.name }}，白皮书。", "text", by="editor")
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    with live_chromium(app) as (url, browser):
        page = browser.new_page(viewport={"width": 1920, "height": 1200}, locale="zh-CN")
        _sign_in(page, url, "zhao@example.cn", clock)
        page.goto(f"{url}{PAGE}")
        _wait_yaml(page, "key: rule_a_whitepaper")
        assert page.locator(".react-flow__node").count() == 0
        settings = {"name": "规则A：白皮书下载跟进",
                    "description": "Whitepaper digest by email; no engagement in 3 days → customer service "
                                   "follows up on WeCom.",
                    "trigger": '{"event": "content_download", "properties": {"content_type": "whitepaper"}}',
                    "entry": '{"max_entries": 3, "cooldown": "30d"}',
                    "exit_when": '["unsubscribed", "complained"]', "goal": '{"event": "order_paid"}'}
        for name, value in settings.items():
            page.locator(f"#tf-s-{name}").fill(value)
        page.locator("#tf-s-goal").press("Enter")
        _wait_yaml(page, "goal:")
        for kind, node_id, spot, fields in NODES:
            drag_node(page, kind, node_id, spot)
            for name, value in fields.items():
                page.locator(f"#tf-f-{node_id}-{name}").fill(value)
            if fields:
                page.locator(f"#tf-f-{node_id}-{name}").press("Enter")
                _announced(page, f"{node_id}.{name}")
        page.get_by_role("button", name="适应窗口", exact=True).click()  # all six in view before drawing edges
        for source, edge, target in EDGES:
            drag_edge(page, source, edge, target)
        expect(page.locator(".react-flow__edge")).to_have_count(len(EDGES))
        page.locator('[data-errors="0"]').wait_for()
        page.locator("[data-save]").click()
        page.wait_for_function("() => document.querySelector('[data-announce]').textContent === '草稿已保存'")
        built = load_yaml(read_draft(app.services, "rule_a_whitepaper").text)
        assert set(built.pop("layout")) == {n[1] for n in NODES}
        assert built == load_yaml(RULE_A)
