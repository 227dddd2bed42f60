"""The journey builder in Chromium, as a strategy designer: rule A built from an empty canvas with the keyboard
forms equals the example as parsed; a lint error pinned to its node is fixed and publish unlocks; two browsers
editing one journey: the second save gets the merge view and no edit is lost. axe-core on the builder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.accounts_support import make_user
from tests.e2e.console_browser_support import Watch, axe_violations, live_chromium, needs_chromium, screenshot
from tests.e2e.test_console_browser_work import _sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.domain.safe_yaml import load_yaml
from touchflow.services.content import save_template
from touchflow.services.journey_drafts import read_draft, save_draft

RULE_A = (Path(__file__).parents[2] / "examples" / "journeys" / "rule_a_whitepaper.yaml").read_text(encoding="utf-8")
PAGE = "/journeys/rule_a_whitepaper/builder"


def _yaml(page: Any) -> str:
    return str(page.locator("[data-yaml]").text_content())


def _wait_yaml(page: Any, needle: str) -> None:
    try:
        page.wait_for_function("n => document.querySelector('[data-yaml]').textContent.includes(n)", arg=needle,
                               timeout=10_000)
    except Exception as exc:
        announce = page.locator("[data-announce]").text_content() if page.locator("[data-announce]").count() else None
        raise AssertionError(f"{needle!r} not in the YAML; announced {announce!r}; page: "
                             f"{page.locator('body').inner_text()[:1500]}") from exc


def _announced(page: Any, text: str) -> None:
    try:
        page.wait_for_function("t => document.querySelector('[data-announce]').textContent.includes(t)", arg=text,
                               timeout=15_000)
    except Exception as exc:
        raise AssertionError(f"{text!r} not announced: {page.locator('[data-announce]').text_content()!r}") from exc


def _add(page: Any, kind: str, node_id: str, fields: dict[str, str]) -> None:
    page.locator("#tf-add-kind").select_option(kind)
    page.locator("#tf-add-id").fill(node_id)
    page.locator("#tf-add-id").press("Enter")
    _wait_yaml(page, f"  {node_id}:\n")
    for name, value in fields.items():
        page.locator(f"#tf-f-{node_id}-{name}").fill(value)
    if fields:
        page.locator(f"#tf-f-{node_id}-{name}").press("Enter")
        _announced(page, f"{node_id}.{name}")


def _connect(page: Any, source: str, edge: str, target: str) -> None:
    page.locator("#tf-conn-from").select_option(source)
    page.locator("#tf-conn-edge").select_option(edge)
    page.locator("#tf-conn-to").select_option(target)
    page.locator('form[aria-labelledby="tf-conn-h"] button').press("Enter")  # the keyboard, not a click
    _announced(page, f"{source} → {target}")


@needs_chromium
def test_rule_a_by_keyboard_a_pinned_error_and_two_editors(app: Application, clock: VirtualClock) -> None:
    for name, channel in (("whitepaper_digest", "email"), ("whitepaper_followup_cs", "wecom")):
        save_template(app.services, name, channel, "白皮书精选", "{{ contact.name }}，白皮书。", "text", by="editor")
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    with live_chromium(app) as (url, browser):
        watch = Watch(url)
        page = watch.open(browser, 1400, 1000)
        _sign_in(page, url, "zhao@example.cn", clock)
        page.goto(f"{url}{PAGE}")
        _wait_yaml(page, "key: rule_a_whitepaper")
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
        _add(page, "send", "send_digest", {"channel": "webhook", "template": "whitepaper_digest",
                                           "fallback": '["sms"]', "retry": '{"attempts": 3, "backoff": "10m"}'})
        _add(page, "wait_event", "wait_engagement", {"events": '["message_opened", "message_clicked"]',
                                                     "of_message": "send_digest", "timeout": "3d"})
        _add(page, "send", "wecom_followup", {"channel": "wecom", "template": "whitepaper_followup_cs"})
        _add(page, "task", "cs_task", {"queue": "service", "title": "白皮书下载未打开邮件，企微跟进", "sla": "2h"})
        _add(page, "update_contact", "engaged", {"add_tags": '["whitepaper_engaged"]'})
        _add(page, "exit", "done", {})
        for source, edge, target in (("send_digest", "next", "wait_engagement"),
                                     ("wait_engagement", "on_event", "engaged"),
                                     ("wait_engagement", "on_timeout", "wecom_followup"),
                                     ("wecom_followup", "next", "cs_task"), ("cs_task", "next", "done"),
                                     ("engaged", "next", "done")):
            _connect(page, source, edge, target)

        # the lint error is pinned to its node, and publish waits for it
        pinned = page.locator('[data-node-id="send_digest"] [data-code="send-via-webhook"]')
        pinned.wait_for()
        assert page.locator("[data-publish]").is_disabled()
        assert axe_violations(page) == []
        screenshot(page, "08-流程画布.png")
        page.locator(".react-flow__node", has_text="send_digest").click()
        page.locator("#tf-f-send_digest-channel").fill("email")
        page.locator("#tf-f-send_digest-channel").press("Enter")
        pinned.wait_for(state="detached")
        assert page.locator("[data-publish]").is_enabled()

        page.locator("[data-save]").click()
        page.wait_for_function("() => document.querySelector('[data-announce]').textContent === '草稿已保存'")
        built = load_yaml(read_draft(app.services, "rule_a_whitepaper").text)
        built.pop("layout", None)
        assert built == load_yaml(RULE_A)

        # a second editor saves meanwhile; the first one's save gets the merge view, and both edits survive
        other = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        other.context.add_cookies(page.context.cookies())
        draft = read_draft(app.services, "rule_a_whitepaper")
        save_draft(app.services, "rule_a_whitepaper", draft.text.replace("sla: 2h", "sla: 1h"),
                   if_match=draft.token, actor="someone else")
        page.locator(".react-flow__node", has_text="wait_engagement").click()
        page.locator("#tf-f-wait_engagement-timeout").fill("2d")
        page.locator("#tf-f-wait_engagement-timeout").press("Enter")
        _wait_yaml(page, "timeout: 2d")
        page.locator("[data-save]").click()
        merge = page.locator("[data-merge]")
        merge.wait_for()
        theirs = page.locator("#tf-theirs").input_value()
        assert "sla: 1h" in theirs and "timeout: 2d" in page.locator("#tf-yours").input_value()
        assert axe_violations(page) == []
        page.locator("#tf-yours").fill(theirs.replace("timeout: 3d", "timeout: 2d"))
        page.locator("[data-merge-save]").click()
        merge.wait_for(state="detached")
        final = read_draft(app.services, "rule_a_whitepaper").text
        assert "sla: 1h" in final and "timeout: 2d" in final
        expected = {"404 (Not Found)", "409 (Conflict)"}  # a new journey's first load; the stale save
        assert watch.outside == []
        assert [p for p in watch.problems if not any(p.endswith(e) for e in expected)] == [], watch.problems


@needs_chromium
def test_a_reader_without_journeys_write_gets_a_read_only_canvas(app: Application) -> None:
    from touchflow.services.apikeys import KeySpec, check_key_spec, issue_api_key

    save_draft(app.services, "rule_a_whitepaper", RULE_A, if_match=None, actor="test")
    key = issue_api_key(app.services, check_key_spec(KeySpec("wall screen", "strategist", frozenset({"journeys.read"}),
                                                             service_account="screens")), actor="test").secret
    with live_chromium(app) as (url, browser):
        page = browser.new_page(locale="zh-CN", extra_http_headers={"Authorization": f"Bearer {key}"})
        page.goto(f"{url}{PAGE}")
        page.locator('[data-node-id="wecom_followup"]').wait_for()
        assert page.locator("[data-read-only]").is_visible()
        assert page.locator(".tf-palette").count() == 0 and page.locator("[data-save]").count() == 0
        assert page.locator("[data-publish]").count() == 0
        assert page.locator(".react-flow__node.draggable").count() == 0
        assert axe_violations(page) == []


@needs_chromium
def test_drag_a_kind_from_the_palette_onto_the_canvas(app: Application, clock: VirtualClock) -> None:
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    save_draft(app.services, "rule_a_whitepaper", RULE_A, if_match=None, actor="test")
    with live_chromium(app) as (url, browser):
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        _sign_in(page, url, "zhao@example.cn", clock)
        page.goto(f"{url}{PAGE}")
        page.locator('[data-node-id="done"]').wait_for()
        page.locator("#tf-add-id").fill("wait_more")
        page.locator('[data-palette="wait"]').drag_to(page.locator(".react-flow__pane"),
                                                      target_position={"x": 80, "y": 60})
        page.locator('[data-node-id="wait_more"]').wait_for()
        assert "layout:\n  wait_more: {x: " in _yaml(page)
        assert load_yaml(_yaml(page))["nodes"]["wait_more"] == {"kind": "wait"}
        assert page.locator('[data-node-id="wait_more"] [data-code="schema"]').count() == 1  # no duration yet
