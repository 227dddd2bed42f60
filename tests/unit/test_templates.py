"""Marketer templates: the Liquid sandbox, dynamic blocks, recommendations, email composition, tracking, links."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from touchflow.content.email import compose_email, html_to_text
from touchflow.content.links import Tracking, check_links, rewrite_links
from touchflow.content.templates import ContentRenderer, TemplateError, contact_context
from touchflow.content.tokens import InvalidToken, TokenSigner

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
BASE = "https://t.shop.example.com"


def profile(stage: str = "intent", value_tier: str | None = None, name: str = "王小明") -> dict[str, Any]:
    custom = {"value_tier": value_tier} if value_tier else {}
    return {"id": "c1", "attributes": {"name": name, "city": "上海"}, "custom": custom, "lifecycle_stage": stage,
            "tags": [{"tag": "b2b", "set_by": "manual"}],
            "identities": [{"kind": "email", "value": "xm@example.com", "source": "crm"}]}


def viewed(product: str, days_ago: float, **props: Any) -> dict[str, Any]:
    return {"type": "product_viewed", "occurred_at": NOW - timedelta(days=days_ago),
            "properties": {"product_id": product, **props}}


def paid(amount: float, days_ago: float = 5, **props: Any) -> dict[str, Any]:
    return {"type": "order_paid", "occurred_at": NOW - timedelta(days=days_ago),
            "properties": {"order_id": f"o{amount}", "amount": amount, **props}}


# --- sandbox -----------------------------------------------------------------------------------------

def test_a_runaway_loop_is_stopped_with_a_message_naming_template_and_line() -> None:
    renderer = ContentRenderer()
    with pytest.raises(TemplateError) as caught:
        renderer.render("hello\n{% for i in (1..10000000) %}{{ i }}{% endfor %}", {}, name="welcome")
    assert caught.value.name == "welcome"
    assert caught.value.line == 2
    assert "loop iteration limit" in str(caught.value)
    assert str(caught.value).startswith("welcome, line 2:")


def test_output_is_capped() -> None:
    with pytest.raises(TemplateError, match="output stream limit"):
        ContentRenderer().render("{% for i in (1..5000) %}" + "x" * 200 + "{% endfor %}", {}, name="big")


def test_recursive_partials_are_stopped() -> None:
    renderer = ContentRenderer({"loop": "{% render 'loop' %}"})
    with pytest.raises(TemplateError, match="context depth"):
        renderer.render("{% render 'loop' %}", {}, name="r")


def test_python_attributes_are_not_reachable() -> None:
    out = ContentRenderer().render("[{{ s.upper }}][{{ s.__class__ }}][{{ d.items }}][{{ n.real }}]",
                                   {"s": "abc", "d": {"a": 1}, "n": 3})
    assert out == "[][][][]"


def test_undefined_renders_empty_but_is_reported() -> None:
    renderer = ContentRenderer()
    report = renderer.render_report("Hi {{ contact.name }}{{ contact.custom.vip_level }}!", contact_context(
        profile(), [], NOW))
    assert report.text == "Hi 王小明!"
    assert report.undefined == ("contact.custom.vip_level",)


def test_check_reports_syntax_unknown_filters_variables_and_partials_with_lines() -> None:
    renderer = ContentRenderer()
    assert renderer.check("Hi {{ contact.name | upcase }}{% if contact.is_new %}new{% endif %}") == []
    problems = renderer.check("Hi {{ contcat.name }}\n{{ contact.name | shout }}\n{% render 'nope' %}", "promo")
    assert any(p.startswith("promo, line 1: unknown variable 'contcat.name'") for p in problems)
    assert any(p.startswith("promo, line 2: unknown filter 'shout'") for p in problems)
    assert any("partial 'nope' not found" in p for p in problems)
    syntax = renderer.check("a\nb\n{% if contact.is_new %}unclosed", "broken")
    assert len(syntax) == 1 and syntax[0].startswith("broken, line 3:")


def test_html_rendering_escapes_contact_data() -> None:
    out = ContentRenderer().render("<p>{{ contact.name }}</p>", contact_context(profile(name="<script>x"), [], NOW),
                                   html=True)
    assert out == "<p>&lt;script&gt;x</p>"


# --- dynamic blocks (C3, C4) and recommendations (C5) ------------------------------------------------

BLOCKS = ("{% if contact.is_new %}NEW{% else %}EXISTING{% endif %}|"
          "{% if contact.high_value %}VIP{% else %}REGULAR{% endif %}|"
          "{% if contact.stage == 'new_visitor' %}whitepaper{% elsif contact.stage == 'intent' %}cases+trial"
          "{% elsif contact.stage == 'customer' %}tips+repurchase{% endif %}")


@pytest.mark.parametrize(("stage", "tier", "events", "expected"), [
    ("new_visitor", None, [], "NEW|REGULAR|whitepaper"),
    ("intent", None, [paid(120)], "EXISTING|REGULAR|cases+trial"),
    ("customer", "VIP", [], "EXISTING|VIP|tips+repurchase"),
    ("customer", None, [paid(3000), paid(2500)], "EXISTING|VIP|tips+repurchase"),
])
def test_dynamic_blocks(stage: str, tier: str | None, events: list[dict[str, Any]], expected: str) -> None:
    context = contact_context(profile(stage, tier), events, NOW)
    assert ContentRenderer().render(BLOCKS, context) == expected


def test_recommendations_rank_by_views_dedupe_and_skip_what_was_bought() -> None:
    events = [
        viewed("tea", 1, name="龙井", price=99, url="https://shop.example.com/tea"),
        viewed("tea", 2, name="龙井 (old name)", price=120),
        viewed("cup", 1.5, name="杯子"),
        viewed("pot", 0.5, name="茶壶"), viewed("pot", 0.6), viewed("pot", 0.7),
        viewed("kettle", 0.1, name="水壶"),
        viewed("old", 60, name="too long ago"),
        paid(300, product_ids="pot"),
        paid(50, items=[{"sku": "kettle"}]),
        {"type": "page_view", "occurred_at": NOW - timedelta(days=3),
         "properties": {"url": "https://shop.example.com/mug", "product_id": "mug", "name": "马克杯"}},
    ]
    recs = contact_context(profile(), events, NOW)["recommendations"]
    assert [r["product_id"] for r in recs] == ["tea", "cup", "mug"]
    assert recs[0]["name"] == "龙井" and recs[0]["price"] == 99 and recs[0]["views"] == 2
    out = ContentRenderer().render("{% for p in recommendations %}{{ p.name }};{% endfor %}",
                                   contact_context(profile(), events, NOW))
    assert out == "龙井;杯子;马克杯;"


# --- email composition -------------------------------------------------------------------------------

MJML = """<mjml><mj-head><mj-style>.promo { color: #cc0000; }</mj-style></mj-head><mj-body><mj-section><mj-column>
<mj-text css-class="promo">您好 {{ contact.name }}，<a href="https://shop.example.com/sale?x=1&amp;y=2">看看新品</a></mj-text>
<mj-image src="https://cdn.example.com/banner.png" alt="banner"/>
<mj-button href="https://shop.example.com/buy">立即购买</mj-button>
</mj-column></mj-section></mj-body></mjml>"""


def test_mjml_becomes_inlined_html_with_a_text_alternative() -> None:
    email = compose_email("{{ contact.name }}，新品到了\n", MJML, layout="mjml",
                          context=contact_context(profile(), [], NOW), renderer=ContentRenderer())
    assert email.subject == "王小明，新品到了"
    assert email.html is not None and "<mj-" not in email.html
    assert "color: #cc0000" in email.html  # the class's rule was inlined onto the element
    assert "看看新品 (https://shop.example.com/sale?x=1&y=2)" in email.text
    assert "立即购买 (https://shop.example.com/buy)" in email.text
    assert "<" not in email.text and "color" not in email.text


def test_a_subject_never_carries_a_second_header_line() -> None:
    email = compose_email("Hi {{ contact.name }}", "body", layout="text",
                          context={"contact": {"name": "x\r\nBcc: all@example.com"}}, renderer=ContentRenderer())
    assert "\n" not in email.subject and "\r" not in email.subject


def test_broken_mjml_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="MJML"):
        compose_email("s", "<mjml><mj-body><mj-section>", layout="mjml", context={}, renderer=ContentRenderer())


def test_html_to_text_keeps_link_urls() -> None:
    text = html_to_text("<html><head><style>p{}</style></head><body><p>Hi <a href='https://a.example.com'>A</a></p>"
                        "<p><a href='https://b.example.com'>https://b.example.com</a></p></body></html>")
    assert text == "Hi A (https://a.example.com)\n\nhttps://b.example.com\n"


# --- tracking ---------------------------------------------------------------------------------------

def tracking(secret: str = "s3cret") -> Tracking:
    return Tracking(BASE, TokenSigner(secret), message_id="m1", contact_id="c1")


def token_of(url: str, path: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == BASE and parts.path.startswith(path)
    return parts.path[len(path):]


def test_tracked_email_rewrites_links_adds_pixel_and_unsubscribe_footer() -> None:
    signer = TokenSigner("s3cret")
    track = Tracking(BASE, signer, message_id="m1", contact_id="c1")
    email = compose_email("s", MJML, layout="mjml", context=contact_context(profile(), [], NOW),
                          renderer=ContentRenderer(), tracking=track)
    assert email.html is not None
    assert "https://shop.example.com/buy" not in email.html  # only inside signed tokens now
    assert not check_links(email.html, allowed_domains=["example.com"], require_tracking=True, base_url=BASE)
    clicks = [href for href in _hrefs(email.html) if "/t/c/" in href]
    targets = {signer.read_token(token_of(h, "/t/c/"), "click")["u"] for h in clicks}
    assert targets == {"https://shop.example.com/sale?x=1&y=2", "https://shop.example.com/buy"}
    assert all(signer.read_token(token_of(h, "/t/c/"), "click")["m"] == "m1" for h in clicks)
    unsubscribe = [h for h in _hrefs(email.html) if "/t/u/" in h]
    assert len(unsubscribe) == 1
    assert signer.read_token(token_of(unsubscribe[0], "/t/u/"), "unsubscribe") == {"m": "m1", "c": "c1"}
    assert any("/t/p/" in h for h in _hrefs(email.html))
    assert f'src="{BASE}/t/o/' in email.html and email.html.rindex("/t/o/") > email.html.rindex("/t/u/")
    assert "/t/o/" not in email.text and "/t/u/" in email.text


def test_no_footer_when_the_template_places_its_own_unsubscribe_link() -> None:
    body = "<p>Hi</p><p><a href=\"{{ unsubscribe_url }}\">不再接收</a></p>"
    email = compose_email("s", body, layout="html", context={}, renderer=ContentRenderer(), tracking=tracking())
    assert email.html is not None
    assert email.html.count("/t/u/") == 1 and "不再接收" in email.html and "退订 Unsubscribe" not in email.html


def test_text_email_tracks_bare_urls_and_appends_unsubscribe() -> None:
    email = compose_email("s", "看这里 https://shop.example.com/a。", layout="text", context={},
                          renderer=ContentRenderer(), tracking=tracking())
    assert email.html is None
    assert f"看这里 {BASE}/t/c/" in email.text and email.text.count("。") == 1
    assert "退订 Unsubscribe: " + BASE + "/t/u/" in email.text


def test_tokens_round_trip_and_reject_tampering_other_keys_and_purposes() -> None:
    signer = TokenSigner("k1")
    token = signer.make_token("click", {"m": "m1", "u": "https://a.example.com"})
    assert signer.read_token(token, "click") == {"m": "m1", "u": "https://a.example.com"}
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(InvalidToken, match="bad signature"):
        signer.read_token(tampered, "click")
    with pytest.raises(InvalidToken):
        signer.read_token(token, "unsubscribe")  # a click token does not unsubscribe anyone
    with pytest.raises(InvalidToken):
        TokenSigner("other").read_token(token, "click")
    assert TokenSigner("k2", old_keys=("k1",)).read_token(token, "click")["m"] == "m1"  # key rotation


def test_own_links_are_not_wrapped_twice() -> None:
    track = tracking()
    html = f'<a href="{track.unsubscribe_url()}">u</a><a href="mailto:a@example.com">m</a>'
    assert rewrite_links(html, track) == html


# --- link check (J10) -------------------------------------------------------------------------------

def test_link_check_names_each_problem() -> None:
    content = ('<a href="https://www.example.com/ok">ok</a> <a href="https://exa mple.com/x">space</a>'
               '<a href="/relative">rel</a> <img src="ftp://cdn.example.com/i.png"> '
               '<a href="https://evil.test/phish">bad</a> and text http://example.com/plain, '
               '<a href="https://">nohost</a> <a href="mailto:sales@example.com">mail</a>')
    problems = {p.url: p.problem for p in check_links(content, allowed_domains=["example.com"])}
    assert problems == {
        "https://exa mple.com/x": "contains spaces",
        "/relative": "not an absolute URL (write it with https://)",
        "ftp://cdn.example.com/i.png": "scheme must be http or https, got 'ftp'",
        "https://evil.test/phish": "domain evil.test is not on the allowed list",
        "https://": "no host name",
    }


def test_link_check_requires_tracking_when_asked() -> None:
    content = f'<a href="https://shop.example.com/a">a</a><a href="{BASE}/t/c/tok">b</a><img src="https://cdn.example.com/x.png">'
    problems = check_links(content, allowed_domains=["example.com"], require_tracking=True, base_url=BASE)
    assert [(p.url, p.problem) for p in problems] == [
        ("https://shop.example.com/a", "not tracked (does not go through the click redirect)")]
    with pytest.raises(ValueError, match="base_url"):
        check_links(content, allowed_domains=[], require_tracking=True, base_url=None)


def _hrefs(html: str) -> list[str]:
    return [m.replace("&amp;", "&") for m in re.findall(r'href="([^"]+)"', html)]
