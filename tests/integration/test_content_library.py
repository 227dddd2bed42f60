"""The content library on SQLite and PostgreSQL: versions, compliance at save, review queue, previews, assets, CLI."""

from __future__ import annotations

import os
import pwd
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from touchflow.bootstrap import Application
from touchflow.cli import assets as assets_cli
from touchflow.clock import VirtualClock
from touchflow.domain.actors import Actor
from touchflow.services.content import (
    MAX_ASSET_BYTES,
    ContentError,
    ContentNotFound,
    check_journey_content,
    decide_review,
    get_asset,
    link_check,
    list_assets,
    list_reviews,
    list_templates,
    preview_template,
    request_review,
    save_asset,
    save_template,
    template_for_send,
    template_history,
)
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.store.tables import audit_log

WELCOME = ("<p>{{ contact.name }}，欢迎！</p>{% if contact.high_value %}<p>VIP 专享</p>{% endif %}"
           "{% for p in recommendations %}<a href=\"{{ p.url }}\">{{ p.name }}</a>{% endfor %}")


def test_versions_increment_and_plain_content_is_approved_at_save(app: Application, clock: VirtualClock) -> None:
    ctx = app.services
    first = save_template(ctx, "welcome", "email", "欢迎 {{ contact.name }}", WELCOME, "html", [], "amy")
    clock.advance(timedelta(minutes=5))
    second = save_template(ctx, "welcome", "email", "欢迎回来", WELCOME, "html", ["onboarding"], "amy")
    assert (first.version, second.version) == (1, 2)
    assert first.status == second.status == "approved" and second.findings == ()
    assert [t.version for t in template_history(ctx, "welcome")] == [2, 1]
    assert [(t.name, t.version) for t in list_templates(ctx)] == [("welcome", 2)]
    with ctx.reader() as uow:
        assert template_for_send(uow, "welcome") == second
        assert check_journey_content(uow, ["welcome"]) == []


def test_blocking_findings_are_recorded_and_keep_the_version_a_draft(app: Application) -> None:
    ctx = app.services
    good = save_template(ctx, "promo", "email", "新品上市", "<p>好茶</p>", "html", [], "amy")
    bad = save_template(ctx, "promo", "email", "全网最佳好茶", "<p>国家级品质</p>", "html", [], "amy")
    assert bad.status == "draft" and bad.version == 2
    blocking = {(f["part"], f["term"]) for f in bad.blocking_findings}
    assert blocking == {("subject", "最佳"), ("body", "国家级")}
    stored = next(t for t in template_history(ctx, "promo") if t.version == 2)
    assert stored.findings == bad.findings and stored.findings[0]["article"]
    with ctx.reader() as uow:
        assert template_for_send(uow, "promo") == good  # the draft never goes out
        assert check_journey_content(uow, ["promo"]) == []  # an approved version exists
    only_bad = save_template(ctx, "promo2", "email", "最佳", "<p>x</p>", "html", [], "amy")
    with ctx.reader() as uow:
        [problem] = check_journey_content(uow, ["promo2", "promo"])
    assert (problem.template, problem.code) == ("promo2", "blocked") and "最佳" in problem.problem
    assert only_bad.status == "draft"


def test_finance_content_waits_for_a_second_person(app: Application) -> None:
    ctx = app.services
    v1 = save_template(ctx, "fund", "email", "理财周报", "<p>稳健配置</p>", "html", ["finance"], "amy")
    assert v1.status == "pending_review"
    [review] = list_reviews(ctx)
    assert (review.template_name, review.template_version, review.status) == ("fund", 1, "pending")
    with ctx.reader() as uow:
        assert template_for_send(uow, "fund") is None
        problems = check_journey_content(uow, ["nowhere", "fund"])
    assert [(p.template, p.code) for p in problems] == [("fund", "pending_review"), ("nowhere", "missing")]

    with pytest.raises(ContentError, match="second person"):
        decide_review(ctx, review.id, True, "amy")
    with pytest.raises(ContentError, match="must say"):
        decide_review(ctx, review.id, False, "carol")
    rejected = decide_review(ctx, review.id, False, "carol", "加上风险提示")
    assert (rejected.status, rejected.reviewer, rejected.comment) == ("rejected", "carol", "加上风险提示")
    with ctx.reader() as uow:
        [problem] = check_journey_content(uow, ["fund"])
    assert problem.code == "rejected" and "加上风险提示" in problem.problem
    with pytest.raises(ContentError, match="already rejected"):
        decide_review(ctx, review.id, True, "carol")

    v2 = save_template(ctx, "fund", "email", "理财周报", "<p>稳健配置。投资有风险</p>", "html", ["finance"], "amy")
    [review2] = list_reviews(ctx)
    assert review2.template_version == 2
    decide_review(ctx, review2.id, True, "carol", "ok")
    v3 = save_template(ctx, "fund", "email", "理财周报 v3", "<p>新版</p>", "html", ["finance"], "amy")
    with ctx.reader() as uow:
        chosen = template_for_send(uow, "fund")
        assert check_journey_content(uow, ["fund"]) == []
    assert chosen is not None and chosen.version == v2.version and v3.status == "pending_review"
    assert {r.status for r in list_reviews(ctx, None)} == {"approved", "rejected", "pending"}


@pytest.mark.parametrize(("subject", "body", "because"), [
    ("稳健理财", "<p>年化收益 4.2%，投资有风险</p>", "finance copy: 年化收益"),
    ("健康讲座", "<p>专家讲解慢性胃炎的治疗方法</p>", "medical copy: 治疗"),
    ("会员日", "<p>提高免疫力的好时节</p>", "medical copy: 提高免疫力"),
])
def test_untagged_medical_or_financial_copy_waits_for_review(app: Application, subject: str, body: str,
                                                            because: str) -> None:
    saved = save_template(app.services, "untagged", "email", subject, body, "html", [], Actor.os_user("amy"))
    assert saved.status == "pending_review" and saved.tags == ()
    assert because in saved.review_reasons
    [review] = list_reviews(app.services)
    assert review.template_name == "untagged" and review.requested_by == "os:amy"
    with app.services.reader() as uow:
        assert template_for_send(uow, "untagged") is None
    with pytest.raises(ContentError, match="second person"):
        decide_review(app.services, review.id, True, Actor.os_user("amy"), "typed another name? still amy")
    with app.engine.connect() as c:
        details = c.execute(select(audit_log.c.details).where(audit_log.c.action == "template.save")).scalar_one()
    assert because in details["review_because"]
    plain = save_template(app.services, "plain", "email", "春季上新", "<p>新品到店</p>", "html", [], "amy")
    assert plain.status == "approved" and plain.review_reasons == []


def test_a_reviewer_may_accept_a_draft_whose_finding_is_a_false_positive(app: Application) -> None:
    ctx = app.services
    draft = save_template(ctx, "award", "email", "我们荣获最佳雇主奖", "<p>感谢</p>", "html", [], "amy")
    assert draft.status == "draft"
    review = request_review(ctx, "award", by="amy")
    assert request_review(ctx, "award", by="amy") == review  # asking twice queues once
    decide_review(ctx, review.id, True, "carol", "奖项名称，非广告用语")
    with ctx.reader() as uow:
        sent = template_for_send(uow, "award")
    assert sent is not None and sent.version == 1
    with pytest.raises(ContentError, match="already approved"):
        request_review(ctx, "award", by="amy")


def test_preview_renders_for_one_contact_with_their_recommendations(app: Application, clock: VirtualClock) -> None:
    ctx = app.services
    upsert_contacts(ctx, "crm", [RawItem({"email": "li@example.com", "name": "李雷", "custom.value_tier": "VIP"})])
    now = clock.now()
    record_events(ctx, "shop", [RawItem({
        "type": "product_viewed", "email": "li@example.com", "occurred_at": (now - timedelta(hours=h)).isoformat(),
        "properties": {"product_id": pid, "name": pname, "url": f"https://shop.example.com/{pid}"}})
        for h, pid, pname in ((1, "tea", "龙井"), (2, "tea", "龙井"), (3, "cup", "杯子"), (4, "pot", "茶壶"))]
        + [RawItem({"type": "order_paid", "email": "li@example.com", "occurred_at": now.isoformat(),
                    "properties": {"order_id": "o1", "amount": 88, "product_ids": "cup"}})])
    save_template(ctx, "recs", "email", "{{ contact.name }}，为你推荐", WELCOME + "{{ contact.custom.nickname }}",
                  "html", [], "amy")
    shown = preview_template(ctx, "recs", "email:li@example.com")
    assert shown.subject == "李雷，为你推荐"
    assert shown.html is not None and "VIP 专享" in shown.html
    assert "龙井 (https://shop.example.com/tea)" in shown.text and "茶壶" in shown.text
    assert "杯子" not in shown.text  # bought already
    assert shown.undefined == ("contact.custom.nickname",)
    with pytest.raises(ContentNotFound):
        preview_template(ctx, "nope", "email:li@example.com")


def test_link_check_finds_literal_links_in_every_branch(app: Application) -> None:
    ctx = app.services
    body = ('<a href="https://www.example.com/a">a</a>{% if contact.is_new %}'
            '<a href="https://evil.test/x">x</a>{% endif %}<a href="{{ unsubscribe_url }}">退订</a>'
            '{% if contact.high_value %}<a href="http://exa mple.com">y</a>{% endif %}')
    save_template(ctx, "links", "email", "s", body, "html", [], "amy")
    problems = {p.url: p.problem for p in link_check(ctx, "links", ["example.com"])}
    assert problems == {"https://evil.test/x": "domain evil.test is not on the allowed list",
                        "http://exa mple.com": "contains spaces"}


def test_templates_are_validated_before_they_are_stored(app: Application) -> None:
    ctx = app.services
    with pytest.raises(ContentError, match=r"unknown variable 'contcat\.name'"):
        save_template(ctx, "t", "email", "s", "{{ contcat.name }}", "html", [], "amy")
    with pytest.raises(ContentError, match="MJML"):
        save_template(ctx, "t", "email", "s", "<mjml><mj-body><mj-section>", "mjml", [], "amy")
    with pytest.raises(ContentError, match="channel"):
        save_template(ctx, "t", "fax", "s", "x", "text", [], "amy")
    with pytest.raises(ContentError, match="name"):
        save_template(ctx, "bad name!", "email", "s", "x", "html", [], "amy")
    assert list_templates(ctx) == []
    sms = save_template(ctx, "sms_tip", "sms", "", "{{ contact.name }} 您好，使用技巧见 https://www.example.com/t",
                        "text", [], "amy")
    assert sms.status == "approved"


def test_assets_are_versioned_and_capped(app: Application) -> None:
    ctx = app.services
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    first = save_asset(ctx, "banner.png", png, by="amy")
    assert (first.version, first.kind, first.content_type, first.size) == (1, "image", "image/png", len(png))
    assert save_asset(ctx, "banner.png", png, by="amy") == first  # same bytes: no new version
    second = save_asset(ctx, "banner.png", png + b"!", by="amy", metadata={"campaign": "spring"})
    assert second.version == 2 and second.metadata == {"campaign": "spring"}
    record, data = get_asset(ctx, "banner.png", 1)
    assert record == first and data == png
    assert [(a.name, a.version) for a in list_assets(ctx)] == [("banner.png", 2)]
    with pytest.raises(ContentError, match="5 MB"):
        save_asset(ctx, "huge.pdf", b"x" * (MAX_ASSET_BYTES + 1), by="amy")


# --- CLI ---------------------------------------------------------------------------------------------

@pytest.fixture
def cli() -> typer.Typer:
    application = typer.Typer()
    assets_cli.register(application)
    return application


def test_cli_template_flow(app: Application, cli: typer.Typer, tmp_path: Path) -> None:
    env = {"TOUCHFLOW_DATABASE_URL": app.settings.database_url}
    runner = CliRunner()
    body = tmp_path / "loan.mjml"
    body.write_text("<mjml><mj-body><mj-section><mj-column><mj-text>{{ contact.name }}，低息贷款"
                    "<a href=\"https://loan.example.com\">申请</a></mj-text></mj-column></mj-section></mj-body></mjml>",
                    encoding="utf-8")
    result = runner.invoke(cli, ["template", "save", "loan", "--file", str(body), "--subject", "贷款",
                                 "--tag", "finance", "--json"], env=env)
    assert result.exit_code == 0, result.output
    saved = orjson.loads(result.stdout)
    assert (saved["version"], saved["layout"], saved["status"]) == (1, "mjml", "pending_review")
    me = f"os:{pwd.getpwuid(os.getuid()).pw_name}"
    assert saved["created_by"] == me

    result = runner.invoke(cli, ["template", "review", "list", "--json"], env=env)
    [review] = orjson.loads(result.stdout)
    # The same OS account cannot approve, whatever it types or claims in the environment.
    result = runner.invoke(cli, ["template", "review", "approve", review["id"], "--by", "carol"], env=env)
    assert result.exit_code == 2 and "--by" in result.output
    for spoof in ({}, {"USER": "carol", "LOGNAME": "carol", "USERNAME": "carol"}):
        result = runner.invoke(cli, ["template", "review", "approve", review["id"]], env={**env, **spoof})
        assert result.exit_code == 2 and "second person" in result.output, result.output
    assert list_reviews(app.services)[0].status == "pending"
    approved = decide_review(app.services, review["id"], True, Actor.api_key("k2", "compliance-desk"), "ok")
    assert approved.status == "approved" and approved.reviewer == "apikey:k2 (compliance-desk)"

    result = runner.invoke(cli, ["template", "list", "--json"], env=env)
    assert [(t["name"], t["status"]) for t in orjson.loads(result.stdout)] == [("loan", "approved")]
    result = runner.invoke(cli, ["template", "links", "loan", "--allow", "example.com"], env=env)
    assert result.exit_code == 0 and "all links are fine" in result.output
    result = runner.invoke(cli, ["template", "links", "loan", "--allow", "other.com", "--json"], env=env)
    assert result.exit_code == 1
    assert orjson.loads(result.stdout) == [{"url": "https://loan.example.com",
                                            "problem": "domain loan.example.com is not on the allowed list"}]

    upsert_contacts(app.services, "crm", [RawItem({"email": "han@example.com", "name": "韩梅梅"})])
    result = runner.invoke(cli, ["template", "preview", "loan", "--contact", "email:han@example.com", "--json"],
                           env=env)
    assert result.exit_code == 0, result.output
    assert "韩梅梅，低息贷款" in orjson.loads(result.stdout)["text"]
    result = runner.invoke(cli, ["template", "preview", "loan", "--contact", "email:nobody@example.com"], env=env)
    assert result.exit_code == 1

    image = tmp_path / "logo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\nlogo")
    result = runner.invoke(cli, ["asset", "add", str(image), "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["content_type"] == "image/png"


def test_g5_review_is_a_four_eyes_approval_that_needs_content_review(app: Application) -> None:
    """G5 through the approvals lens: the reviewer is a second person (by identity) holding content.review."""
    from touchflow.domain.governance.principals import Principal
    from touchflow.services.content import ContentForbidden

    amy, carol = Actor.os_user("amy"), Actor.api_key("k-carol", "carol")
    save_template(app.services, "loan", "email", "贷款", "<p>低息贷款</p>", "html", ["finance"], amy)
    [review] = list_reviews(app.services)
    editor = Principal(carol, "editor", frozenset({"content.read", "content.write"}))
    with pytest.raises(ContentForbidden, match=r"content\.review"):
        decide_review(app.services, review.id, True, editor, "ok")
    with pytest.raises(ContentError, match="second person"):  # the author, even as a reviewer
        decide_review(app.services, review.id, True, Principal(amy, "reviewer", frozenset({"content.review"})))
    decided = decide_review(app.services, review.id, True, Principal(carol, "reviewer",
                                                                     frozenset({"content.review"})), "ok")
    assert decided.status == "approved" and decided.reviewer == carol.label
