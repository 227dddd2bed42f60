"""Per-contact run actions and archiving on the journeys page (J9): a strategist lists a journey's runs with each
contact's name and masked phone, pauses, resumes and removes one contact's run (each an audit row with the
strategist as actor), is told in Chinese when an action does not apply, and archives the journey with a reason; a
viewer reads the runs without the buttons; in Chromium the runs page is axe-clean and goes into the manual."""

from __future__ import annotations

from tests.e2e.console_admin_support import audit_actors
from tests.e2e.console_browser_support import browser, needs_chromium
from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.engine.runtime import JourneyRuntime
from touchflow.services.contacts import find_contact_id
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.journeys import list_journeys, publish_journey

NURTURE = """
key: nurture
name: 注册后培育
trigger:
  event: signup
nodes:
  wait_order:
    kind: wait_event
    events: [order_paid]
    timeout: 7d
    next: done
  done:
    kind: exit
"""
PEOPLE = (("13812340001", "张伟"), ("13812340002", "刘洋"))


def seed(app: Application, clock: VirtualClock) -> list[str]:
    publish_journey(app.services, NURTURE, actor="test")
    upsert_contacts(app.services, "crm", [RawItem({"phone": p, "name": n}) for p, n in PEOPLE])
    record_events(app.services, "website", [RawItem({"id": f"s{i}", "type": "signup", "phone": p,
                                                     "occurred_at": clock.now().isoformat()})
                                            for i, (p, _) in enumerate(PEOPLE)])
    JourneyRuntime(app.services).tick()
    return [find_contact_id(app.services, f"phone:{p}") for p, _ in PEOPLE]


def test_a_strategist_pauses_resumes_removes_a_run_and_archives(app: Application, clock: VirtualClock) -> None:
    zhang, liu = seed(app, clock)
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        page = client.get("/journeys/nurture/runs")
        assert page.status_code == 200, page.text
        assert "张伟" in page.text and "138****0001" in page.text and "13812340001" not in page.text
        assert page.text.count('data-run-status="waiting"') == 2
        token = csrf_of(page.text)
        paused = client.post(f"/journeys/nurture/runs/{zhang}/pause", data={"csrf_token": token, "reason": "客户要求"})
        assert paused.status_code == 303 and paused.headers["location"] == "/journeys/nurture/runs?done=pause"
        shown = client.get("/journeys/nurture/runs?status=paused")
        assert f'data-contact="{zhang}" data-run-status="paused"' in shown.text and liu not in shown.text
        again = client.post(f"/journeys/nurture/runs/{zhang}/pause", data={"csrf_token": token})
        assert again.status_code == 422 and 'data-problem="conflict"' in again.text
        assert "没有处于可执行此操作状态的记录" in again.text and "that can be" not in again.text
        client.post(f"/journeys/nurture/runs/{zhang}/resume", data={"csrf_token": token})
        client.post(f"/journeys/nurture/runs/{liu}/remove", data={"csrf_token": token, "reason": "退订"})
        after = client.get("/journeys/nurture/runs").text
        assert f'data-contact="{liu}" data-run-status="exited"' in after
        assert f'data-contact="{zhang}" data-run-status="waiting"' in after
        bad = client.post(f"/journeys/nurture/runs/{zhang}/explode", data={"csrf_token": token})
        assert bad.status_code == 422 and 'data-field="action"' in bad.text
        assert client.get("/journeys/nope/runs").status_code == 404
        listing = client.get("/journeys")
        no_reason = client.post("/journeys/nurture/archive", data={"csrf_token": csrf_of(listing.text)})
        assert no_reason.status_code == 422 and 'data-field="reason"' in no_reason.text and "原因" in no_reason.text
        archived = client.post("/journeys/nurture/archive", data={"csrf_token": token, "reason": "活动结束"})
        assert archived.status_code == 303 and archived.headers["location"] == "/journeys?done=archived"
        assert "旅程已归档" in client.get(archived.headers["location"]).text
    assert [j.status for j in list_journeys(app.services)] == ["archived"]
    for action in ("run.pause", "run.resume", "run.remove", "journey.archive"):
        actors = audit_actors(app, action)
        assert actors and all(a != "test" and a.startswith("user:") for a in actors), (action, actors)


@needs_chromium
def test_runs_page_in_chromium(app: Application, clock: VirtualClock, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        return  # the behaviour is checked on both databases over HTTP above
    zhang, _ = seed(app, clock)
    with browser(app, clock) as b:
        page = b.page_as("li.na@example.cn", "strategist", "李娜")
        page.goto(f"{b.base}/journeys")
        b.check(page)
        page.get_by_role("link", name="联系人与运行").click()
        page.wait_for_url("**/journeys/nurture/runs")
        b.check(page, "journeys-runs.png")
        page.get_by_role("button", name="暂停 张伟 的运行").click()
        page.locator(f"tr[data-contact='{zhang}'][data-run-status='paused']").wait_for()
        b.check(page)


def test_a_viewer_reads_journeys_and_runs_without_names_or_buttons(app: Application, clock: VirtualClock) -> None:
    zhang, _ = seed(app, clock)
    with console_client(app) as client:
        sign_in(client, app, clock, "wang@example.cn", "viewer", name="王经理")
        listing = client.get("/journeys")
        assert listing.status_code == 200 and "注册后培育" in listing.text
        assert 'href="/journeys"' in listing.text  # the sidebar shows Journeys to a viewer
        runs = client.get("/journeys/nurture/runs")
        assert runs.status_code == 200 and f'data-contact="{zhang}"' in runs.text
        assert "张伟" not in runs.text and "138****0001" not in runs.text  # no contact data without contacts.read
        assert "/runs/" + zhang + "/pause" not in runs.text
        refused = client.post(f"/journeys/nurture/runs/{zhang}/pause", data={"csrf_token": csrf_of(runs.text)})
        assert refused.status_code == 403
        assert client.post("/journeys/nurture/archive", data={"csrf_token": csrf_of(runs.text),
                                                               "reason": "x"}).status_code == 403
