"""The console in Chromium, as the people who use it: a manager signs in with a password and TOTP (first time:
enrols) and reads the dashboard; every page passes axe-core with no serious or critical violation, in both
themes, with no request off this server and no CSP refusal."""

from __future__ import annotations

from datetime import timedelta

import pyotp
from sqlalchemy import insert

from tests.e2e.accounts_support import PASSWORD, make_user
from tests.e2e.console_browser_support import Watch, axe_violations, live_chromium, needs_chromium, screenshot
from tests.integration.reports_support import Scenario, local
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.metrics import refresh_rollups
from touchflow.store.tables import contacts, events


def _seed(app: Application, days: dict[int, tuple[int, int]]) -> None:
    """``message_sent`` and ``message_opened`` events (what the rollups count) of the welcome journey."""
    journey = Scenario(app).journey_id
    with app.engine.begin() as conn:
        for day, (sent, opened) in days.items():
            at = local(day)
            conn.execute(insert(contacts).values(id=f"c{day}", created_at=at, updated_at=at, custom={}, lineage={}))
            for i in range(sent):
                props = {"message_id": f"m{day}-{i}", "journey_id": journey, "node_id": "hello",
                         "template": "welcome_email", "channel": "sms"}
                kinds = ["message_sent", "message_delivered"] + (["message_opened"] if i < opened else [])
                for n, kind in enumerate(kinds):
                    conn.execute(insert(events).values(
                        id=f"e{day}-{i}-{n}", contact_id=f"c{day}", type=kind, received_at=at,
                        occurred_at=at + timedelta(minutes=n), source="touchflow", properties=props))


def _code(secret: str, clock: VirtualClock) -> str:
    return str(pyotp.TOTP(secret).at(int(clock.now().timestamp())))


@needs_chromium
def test_a_manager_signs_in_with_totp_and_reads_the_dashboard(app: Application, clock: VirtualClock) -> None:
    _seed(app, {26: (8, 5), 27: (6, 2), 28: (10, 6), 20: (4, 1)})  # the 20th: the previous period
    refresh_rollups(app.services, quiescent=True)
    make_user(app, "wang@example.cn", "strategist", "王经理")
    with live_chromium(app) as (url, browser):
        watch = Watch(url)
        page = watch.open(browser, 1280, 900)
        page.goto(f"{url}/")
        assert "/login" in page.url
        assert axe_violations(page) == []
        screenshot(page, "01-登录.png")
        page.get_by_label("邮箱").fill("wang@example.cn")
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="继续").click()
        page.get_by_role("button", name="显示我的密钥").click()
        secret = page.locator("#totp-secret").inner_text().strip()
        assert page.locator("#recovery-codes li").count() == 10
        assert axe_violations(page) == []
        screenshot(page, "02-设置双因素登录.png")
        page.get_by_label("应用中的验证码").fill(_code(secret, clock))
        page.get_by_role("button", name="确认并登录").click()
        page.wait_for_url(f"{url}/dashboard")
        assert page.get_by_role("heading", name="仪表盘").is_visible()
        assert page.locator('[data-kpi="sent"]').inner_text() == "24"  # 8 + 6 + 10 in the last 7 days
        page.wait_for_selector("[data-vega-spec='spec-trend'] svg")
        assert page.locator(".tf-sparkline svg").count() == 8
        assert "王经理" in page.locator("header").inner_text()
        nav = page.get_by_role("navigation", name="主导航").inner_text()
        assert "联系人" in nav and "仪表盘" in nav
        assert axe_violations(page) == []
        screenshot(page, "03-仪表盘.png")

        page.get_by_role("button", name="切换到深色主题").click()
        page.wait_for_url(f"{url}/dashboard")
        assert page.locator("html").get_attribute("data-bs-theme") == "dark"
        page.wait_for_selector("[data-vega-spec='spec-trend'] svg")
        assert axe_violations(page) == []
        page.get_by_role("button", name="English").click()
        page.get_by_role("heading", name="Dashboard").wait_for(state="visible")  # after the page reloads in English
        assert axe_violations(page) == []
        page.goto(f"{url}/preferences")
        assert axe_violations(page) == []

        clock.advance(timedelta(hours=13))  # the session's absolute end: the next page is the login page
        page.goto(f"{url}/dashboard")
        assert "/login" in page.url and "expired=1" in page.url
        clock.advance(timedelta(seconds=31))
        assert page.get_by_label("邮箱").is_visible()  # the login page is in the default language
    assert watch.outside == []
    assert watch.problems == [], watch.problems


@needs_chromium
def test_a_sales_manager_finds_a_contact_and_tags_it(app: Application, clock: VirtualClock) -> None:
    """htmx live search (with the CSRF header on the page), the profile, a hand-edited tag; axe on both pages."""

    from tests.e2e.console_support import console_client
    from touchflow.services.apikeys import KeySpec, check_key_spec, issue_api_key

    key = issue_api_key(app.services, check_key_spec(KeySpec("seed", "admin", service_account="seed")),
                        actor="test").secret
    with console_client(app) as client:
        made = client.post("/v1/contacts", headers={"Authorization": f"Bearer {key}"},
                           json={"phone": "+8613812341234", "email": "zhang.wei@example.cn", "name": "张伟",
                                 "company": "星河科技"})
        assert made.status_code == 200, made.text
    make_user(app, "zhao@example.cn", "strategist", "赵主管")
    with live_chromium(app) as (url, browser):
        watch = Watch(url)
        page = watch.open(browser, 1280, 900)
        page.goto(f"{url}/contacts")
        page.get_by_label("邮箱").fill("zhao@example.cn")
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="继续").click()
        page.get_by_role("button", name="显示我的密钥").click()
        secret = page.locator("#totp-secret").inner_text().strip()
        page.get_by_label("应用中的验证码").fill(_code(secret, clock))
        page.get_by_role("button", name="确认并登录").click()
        page.wait_for_url(f"{url}/contacts")
        assert "查找联系人" in page.locator("#results").inner_text()
        assert axe_violations(page) == []
        page.get_by_role("searchbox").press_sequentially("星河", delay=50)  # htmx swaps the results in
        page.wait_for_selector("#results a:has-text('张伟')")
        assert "138****1234" in page.locator("#results").inner_text()
        assert page.url == f"{url}/contacts"  # no full page load: the list came by htmx
        assert axe_violations(page) == []
        screenshot(page, "04-联系人搜索.png")
        page.locator("#results a", has_text="张伟").click()
        page.get_by_label("添加标签（用逗号分隔）").fill("重点客户")
        page.get_by_label("原因", exact=True).first.fill("展会面谈")
        page.get_by_role("button", name="保存标签").click()
        assert page.get_by_role("status").inner_text() == "标签已保存。"
        assert "重点客户" in page.locator("#tags-h").locator("xpath=../..").inner_text()
        assert axe_violations(page) == []
        screenshot(page, "05-联系人档案.png")
    assert watch.outside == []
    assert watch.problems == [], watch.problems
