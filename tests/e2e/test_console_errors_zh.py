"""Service errors reach the reader in their language (issue 15: every string through the catalogs): on the import
mapping page, the segment builder, the content editor and review queue, and the measurement pages (metrics,
experiments, a report asked for with a wrong day) a refused request names the field and the reason in zh-CN, not
the service's English (console/errors.py, ``_problem.html``)."""

from __future__ import annotations

from tests.e2e.console_support import console_client, csrf_of, sign_in
from tests.e2e.test_console_measure_experiments import FORM
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.content import list_reviews, save_template


def test_content_errors_are_in_chinese(app: Application, clock: VirtualClock) -> None:
    save_template(app.services, "fund", "sms", "", "稳健理财，欢迎咨询", "text", ["finance"], by="user:someone")
    [review] = list_reviews(app.services, "pending")
    with console_client(app) as editor:
        sign_in(editor, app, clock, "editor@example.cn", "editor", "王编辑")
        token = csrf_of(editor.get("/content/new").text)
        refused = editor.post("/content/save", data={"csrf_token": token, "name": "launch", "channel": "email",
                                                     "subject": "", "body": "<p>新品上市</p>", "layout": "html"})
        assert refused.status_code == 422 and 'data-field="subject"' in refused.text
        assert "请检查字段“主题”" in refused.text and "needs a subject" not in refused.text
    with console_client(app) as reviewer:
        sign_in(reviewer, app, clock, "review@example.cn", "reviewer", "钱审核")
        token = csrf_of(reviewer.get("/content/reviews").text)
        rejected = reviewer.post(f"/content/reviews/{review.id}/reject", data={"csrf_token": token, "reason": ""})
        assert rejected.status_code == 409 and 'data-field="comment"' in rejected.text
        assert "驳回时必须说明需要修改什么" in rejected.text and "must say what to change" not in rejected.text


def test_measurement_errors_are_in_chinese(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        wrong_day = client.get("/measure/metrics?period=custom&from=2026-02-30&to=2026-03-01")
        assert wrong_day.status_code == 422 and 'data-field="from"' in wrong_day.text
        assert "请检查字段“开始日期”：日期请写成 YYYY-MM-DD" in wrong_day.text and "a day written" not in wrong_day.text
        backwards = client.get("/measure/metrics?period=custom&from=2026-03-01&to=2026-02-01")
        assert "早于开始日期" in backwards.text and "is before from" not in backwards.text
        report = client.get("/measure/reports/weekly/view?date=next-week")
        assert report.status_code == 422 and report.headers["content-type"].startswith("text/html")
        assert "日期请写成 YYYY-MM-DD" in report.text and 'data-field="date"' in report.text
        token = csrf_of(client.get("/measure/experiments").text)
        plan = client.post("/measure/experiments/plan", data={"csrf_token": token, **FORM, "journey": "nope"})
        assert plan.status_code == 422 and 'data-problem="not_found"' in plan.text
        assert 'data-field="journey"' in plan.text
        assert "不存在" in plan.text and "no published journey" not in plan.text
