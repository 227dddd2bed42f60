"""Archived journeys on the journeys page (J9, ADR 0051): a strategist archives a journey with a reason, finds it under
"Archived" with who archived it, when (in the reader's zone, labelled) and why, and restores it — paused, with a
reason, audited as ``journey.restore`` with the strategist as actor; a missing reason is refused in Chinese naming the
field. A viewer sees the archived list without the restore form, and the server refuses the restore."""

from __future__ import annotations

from tests.e2e.console_admin_support import audit_actors
from tests.e2e.console_support import console_client, csrf_of, sign_in
from tests.e2e.test_console_journey_runs import seed
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.journeys import list_journeys


def test_archived_journeys_are_listed_with_who_when_why_and_restored_paused(app: Application,
                                                                            clock: VirtualClock) -> None:
    seed(app, clock)
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist", "李娜")
        listing = client.get("/journeys")
        token = csrf_of(listing.text)
        assert "已归档（0）" in listing.text and "/journeys?show=archived" in listing.text
        empty = client.get("/journeys?show=archived")
        assert "没有已归档的旅程" in empty.text
        client.post("/journeys/nurture/archive", data={"csrf_token": token, "reason": "双十一活动结束"})
        listing = client.get("/journeys")
        assert 'data-journey="nurture"' not in listing.text and "已归档（1）" in listing.text
        shown = client.get("/journeys?show=archived")
        assert shown.status_code == 200 and 'data-archived="nurture"' in shown.text
        assert 'aria-current="page"' in shown.text
        row = shown.text.split('data-archived="nurture"', 1)[1].split("</tr>", 1)[0]
        assert "双十一活动结束" in row and "李娜" in row and "2026年3月2日" in row and "(Asia/Shanghai)" in row
        assert 'action="/journeys/nurture/restore"' in row
        bad = client.post("/journeys/nurture/restore", data={"csrf_token": token, "reason": " "})
        assert bad.status_code == 422 and 'data-field="reason"' in bad.text and "请检查字段“原因”" in bad.text
        assert 'data-archived="nurture"' in bad.text  # still on the archived list
        done = client.post("/journeys/nurture/restore", data={"csrf_token": token, "reason": "活动延长一周"})
        assert done.status_code == 303 and done.headers["location"] == "/journeys?done=restored"
        back = client.get(done.headers["location"])
        assert "旅程已恢复，目前为暂停状态" in back.text and 'data-journey="nurture"' in back.text
        assert "活动延长一周" in back.text  # the pause reason under its status
        twice = client.post("/journeys/nurture/restore", data={"csrf_token": token, "reason": "再来"})
        assert twice.status_code == 422 and "它未被归档" in twice.text and "not archived" not in twice.text
    assert [j.status for j in list_journeys(app.services)] == ["paused"]
    [actor] = audit_actors(app, "journey.restore")
    assert actor.startswith("user:") and "李娜" in actor


def test_a_viewer_reads_the_archive_without_controls_and_cannot_restore(app: Application,
                                                                         clock: VirtualClock) -> None:
    seed(app, clock)
    with console_client(app) as admin:
        sign_in(admin, app, clock, "li.na@example.cn", "strategist")
        admin.post("/journeys/nurture/archive", data={"csrf_token": csrf_of(admin.get("/journeys").text),
                                                      "reason": "结束"})
    with console_client(app) as client:
        sign_in(client, app, clock, "viewer@example.cn", "viewer", "赵看")
        shown = client.get("/journeys?show=archived")
        assert shown.status_code == 200 and 'data-archived="nurture"' in shown.text
        assert "/restore" not in shown.text
        refused = client.post("/journeys/nurture/restore", data={"csrf_token": csrf_of(client.get("/preferences").text),
                                                                 "reason": "想恢复"})
        assert refused.status_code == 403
    assert [j.status for j in list_journeys(app.services)] == ["archived"]
    assert audit_actors(app, "journey.restore") == []
