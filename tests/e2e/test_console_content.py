"""Content pages: the live Advertising-Law check highlights what it finds with the article it cites, saving goes
through the service (a blocked draft, a finance version waiting for review), versions diff, the review queue
refuses the author and takes a second person's decision; a role without ``content.write`` sees no edit controls
and is refused by the server."""

from __future__ import annotations

import re

from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.content import get_template, list_reviews


def _editor_form(csrf: str, body: str, **extra: str) -> dict[str, str]:
    return {"csrf_token": csrf, "name": "fund_launch", "channel": "email", "layout": "html",
            "subject": "新品上市", "body": body, **extra}


def test_the_editor_highlights_findings_and_saves_through_the_service(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        sign_in(client, app, clock, "editor@example.cn", "editor", "王编辑")
        page = client.get("/content")
        assert page.status_code == 200 and "还没有模板" in page.text and 'href="/content/new"' in page.text
        editor = client.get("/content/new")
        csrf = csrf_of(editor.text)
        checked = client.post("/content/check", data=_editor_form(csrf, "<p>全网最佳的理财体验</p>"),
                              headers={"HX-Request": "true", "X-CSRF-Token": csrf})
        assert checked.status_code == 200
        assert re.search(r'<mark class="tf-finding tf-finding-block" data-finding="1"><a [^>]*>最佳</a>', checked.text)
        assert "第九条" in checked.text and "data-findings=\"1\"" in checked.text
        saved = client.post("/content/save", data=_editor_form(csrf, "<p>全网最佳的理财体验</p>"))
        assert saved.status_code == 303 and saved.headers["location"] == "/content/templates/fund_launch?saved=1"
        assert get_template(app.services, "fund_launch").status == "draft"
        fixed = client.post("/content/save", data=_editor_form(csrf, "<p>稳健的理财体验</p>", tag_finance="on"))
        assert fixed.status_code == 303
        version = get_template(app.services, "fund_launch")
        assert (version.version, version.status) == (2, "pending_review") and "王编辑" in version.created_by
        shown = client.get("/content/templates/fund_launch?saved=2")
        assert "等待审核" in shown.text and "/content/templates/fund_launch/diff?old=1&amp;new=2" in shown.text
        diff = client.get("/content/templates/fund_launch/diff?old=1&new=2")
        assert "<del class=\"text-decoration-none\">&lt;p&gt;全网最佳的理财体验&lt;/p&gt;</del>" in diff.text
        assert "<ins class=\"text-decoration-none\">&lt;p&gt;稳健的理财体验&lt;/p&gt;</ins>" in diff.text
        bad = client.post("/content/save", data=_editor_form(csrf, "{% if %}"))
        assert bad.status_code == 422 and "fund_launch" in bad.text


def test_four_eyes_in_the_review_queue(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as author:
        sign_in(author, app, clock, "admin@example.cn", "admin", "赵管理")
        csrf = csrf_of(author.get("/content/new").text)
        assert author.post("/content/save", data=_editor_form(csrf, "<p>稳健的理财体验</p>",
                                                               tag_finance="on")).status_code == 303
        review = list_reviews(app.services, "pending")[0]
        queue = author.get("/content/reviews")
        assert "第二个人" in queue.text and f"/content/reviews/{review.id}/approve" not in queue.text
        forced = author.post(f"/content/reviews/{review.id}/approve", data={"csrf_token": csrf})
        assert forced.status_code == 409 and list_reviews(app.services, "pending")
    with console_client(app) as reviewer:
        sign_in(reviewer, app, clock, "review@example.cn", "reviewer", "钱审核")
        queue = reviewer.get("/content/reviews")
        assert f"/content/reviews/{review.id}/approve" in queue.text
        csrf = csrf_of(queue.text)
        no_reason = reviewer.post(f"/content/reviews/{review.id}/reject", data={"csrf_token": csrf, "reason": " "})
        assert no_reason.status_code == 409
        done = reviewer.post(f"/content/reviews/{review.id}/approve", data={"csrf_token": csrf})
        assert done.status_code == 303
        assert get_template(app.services, "fund_launch").status == "approved"
        assert "钱审核" in reviewer.get("/content/reviews").text


def test_a_reader_without_write_sees_no_edit_controls_and_is_refused(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as editor:
        sign_in(editor, app, clock, "editor@example.cn", "editor", "王编辑")
        csrf = csrf_of(editor.get("/content/new").text)
        editor.post("/content/save", data=_editor_form(csrf, "<p>你好</p>"))
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        listing = client.get("/content")
        assert listing.status_code == 200 and "fund_launch" in listing.text
        assert 'href="/content/new"' not in listing.text
        page = client.get("/content/templates/fund_launch")
        assert page.status_code == 200 and "?edit=1" not in page.text
        csrf = csrf_of(page.text)
        assert client.get("/content/new").status_code == 403
        refused = client.post("/content/save", data=_editor_form(csrf, "<p>改写</p>"))
        assert refused.status_code == 403 and get_template(app.services, "fund_launch").version == 1
    with console_client(app) as viewer:
        sign_in(viewer, app, clock, "viewer@example.cn", "viewer")
        assert viewer.get("/content").status_code == 403


PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 40


def test_the_asset_library_keeps_versions_and_refuses_readers(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as editor:
        sign_in(editor, app, clock, "editor@example.cn", "editor", "王编辑")
        page = editor.get("/content/assets")
        assert page.status_code == 200 and "素材库是空的" in page.text and 'name="file"' in page.text
        csrf = csrf_of(page.text)
        headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
        for data in (PNG, PNG + b"v2"):
            saved = editor.post("/content/assets", data={"name": "banner.png"}, files={"file": ("x.png", data)},
                                headers=headers)
            assert saved.status_code == 204 and saved.headers["HX-Redirect"] == "/content/assets?saved=banner.png"
        listing = editor.get("/content/assets")
        assert '/v1/assets/banner.png/content?version=2' in listing.text and "?version=1" in listing.text
        image = editor.get("/v1/assets/banner.png/content?version=1")
        assert image.status_code == 200 and image.content == PNG
        empty = editor.post("/content/assets", data={"name": "e.txt"}, files={"file": ("e.txt", b"")},
                            headers=headers)
        assert empty.status_code == 422 and "empty" in empty.text
    with console_client(app) as reader:
        sign_in(reader, app, clock, "li.na@example.cn", "strategist")
        page = reader.get("/content/assets")
        assert page.status_code == 200 and "banner.png" in page.text and 'name="file"' not in page.text
        refused = reader.post("/content/assets", data={"name": "x.png"}, files={"file": ("x.png", PNG)},
                              headers={"X-CSRF-Token": csrf_of(page.text), "HX-Request": "true"})
        assert refused.status_code == 403
