"""The website snippet in a real browser: a page on one origin loads the snippet from a live API server on
another, the pop-up appears as text, and a click reaches the API. Needs Playwright and Chromium
(``pip install playwright``; ``apt-get install chromium``: the Debian build at /usr/bin/chromium)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import select

from tests.e2e.live_server import live_api
from tests.e2e.onsite_support import make_site, mint, with_secret_key
from touchflow.bootstrap import Application
from touchflow.domain.outbox import OutboxMessage
from touchflow.engine.dispatcher import Dispatcher
from touchflow.services.contacts import find_contact_id
from touchflow.services.content import save_template
from touchflow.services.ingest import RawItem, record_events, upsert_contacts
from touchflow.services.sites import IssuedSite
from touchflow.store.tables import events, onsite_messages

CHROMIUM = "/usr/bin/chromium"
VISITOR = "browser-visitor-1"
KNOWN = "email:known@example.cn"

if not os.path.exists(CHROMIUM):
    if os.environ.get("TOUCHFLOW_REQUIRE_BROWSER") == "1":  # .ci/run installs Chromium and sets this
        raise RuntimeError(f"TOUCHFLOW_REQUIRE_BROWSER=1 but there is no Chromium at {CHROMIUM}")
    pytest.skip(f"browser test skipped: no Chromium at {CHROMIUM} (apt-get install chromium; CI installs it)",
                allow_module_level=True)


@pytest.fixture
def api_url(app: Application) -> Iterator[str]:
    """The API under uvicorn in a thread, on an ephemeral port."""
    with live_api(app) as url:
        yield url


@dataclass
class Site:
    url: str
    issued: IssuedSite


@pytest.fixture
def site(api_url: str, app: Application) -> Iterator[Site]:
    """The customer's website on another origin: a page with the snippet, the landing page it links to, and
    the site's backend that issues identify tokens (here: for whoever asks, as if they had just logged in)."""
    with_secret_key(app)
    issued: list[IssuedSite] = []

    class Pages(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/landing"):
                body = b"<!doctype html><title>landing</title><h1>Spring sale</h1>"
            elif self.path.startswith("/token?visitor="):
                vid = unquote(self.path.split("=", 1)[1])
                body = mint(app, issued[0], vid, KNOWN).encode()
            else:
                body = (f'<!doctype html><html><head><title>shop</title></head><body><h1>Shop</h1>'
                        f'<script>try{{localStorage.setItem("tf_vid","{VISITOR}")}}catch(e){{}}</script>'
                        f'<script src="{api_url}/v1/onsite/snippet.js" data-api="{api_url}" '
                        f'data-site-key="{issued[0].site_key}" data-poll="1"></script></body></html>').encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            del format, args

    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    issued.append(make_site(app, "shop", [origin]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(origin, issued[0])
    server.shutdown()
    server.server_close()
    thread.join(10)


def _queue_popup(app: Application, landing: str, contact: str | None = None, title: str = "春季特惠") -> None:
    record_events(app.services, "website", [RawItem({"type": "page_view", "anon": VISITOR,
                                                     "properties": {"url": "https://www.example.cn/"}})])
    save_template(app.services, "spring_popup", "onsite", title, "全场八折 <img src=x onerror=alert(1)>", "text",
                  by="test")
    contact = contact or find_contact_id(app.services, f"anon:{VISITOR}")
    now = app.services.clock.now()
    with app.services.uow() as uow:
        uow.messages.enqueue([OutboxMessage("popup-1", "test:popup-1", None, contact, None, "popup", "onsite",
                                            "spring_popup", {"url": landing}, "queued", 0, now, now)])
        uow.commit()
    dispatcher = Dispatcher(app.services)
    try:
        dispatcher.dispatch_all()
    finally:
        dispatcher.close()


def _wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    return check()


def test_the_popup_appears_in_a_browser_and_its_click_is_recorded(app: Application, site: Site) -> None:
    _queue_popup(app, f"{site.url}/landing")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{site.url}/shop")
            dialog = page.locator('[role="dialog"]')
            dialog.wait_for(state="visible", timeout=10_000)
            assert dialog.locator("h2").inner_text() == "春季特惠"
            assert "<img src=x onerror=alert(1)>" in dialog.inner_text()  # shown as text, not run as HTML
            assert page.locator('[role="dialog"] img').count() == 0
            assert page.evaluate("window.touchflow.visitor()") == f"anon:{VISITOR}"
            page.locator(".tf-popup-link").click()
            page.wait_for_url(f"{site.url}/landing")
        finally:
            browser.close()

    def clicked() -> list[Any]:
        with app.engine.connect() as c:
            return list(c.execute(select(events.c.type, events.c.properties).where(
                events.c.type.in_(("message_opened", "message_clicked")))))

    recorded = _wait_for(lambda: len(clicked()) == 2 and clicked())
    assert sorted(t for t, _ in recorded) == ["message_clicked", "message_opened"]
    assert {p["channel"] for _, p in recorded} == {"onsite"}
    with app.engine.connect() as c:
        assert c.execute(select(onsite_messages.c.status)).scalar_one() == "clicked"


def test_after_login_the_site_backends_token_links_the_browser_to_the_person(app: Application, site: Site) -> None:
    known = upsert_contacts(app.services, "crm", [RawItem({"email": "known@example.cn"})]).contact_ids[0]
    assert known is not None
    _queue_popup(app, f"{site.url}/landing", contact=known, title="老客户专享")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{site.url}/shop")
            page.wait_for_function("window.touchflow !== undefined")
            claimed = page.evaluate("""fetch(document.querySelector("script[data-site-key]").dataset.api +
                "/v1/onsite/identify?key=" + encodeURIComponent(document.querySelector("script[data-site-key]")
                .dataset.siteKey) + "&visitor=" + encodeURIComponent(window.touchflow.visitor()),
                {method: "POST", headers: {"Content-Type": "text/plain"},
                 body: JSON.stringify({email: "known@example.cn"})}).then(r => r.status)""")
            assert claimed == 202  # CORS lets the site's own origin read the answer; a claim links nothing
            page.wait_for_timeout(1500)
            assert page.locator('[role="dialog"]').count() == 0
            linked = page.evaluate("""fetch("/token?visitor=" + encodeURIComponent(window.touchflow.visitor()))
                .then(r => r.text()).then(t => window.touchflow.identify(t))""")
            assert linked is True
            dialog = page.locator('[role="dialog"]')
            dialog.wait_for(state="visible", timeout=10_000)
            assert dialog.locator("h2").inner_text() == "老客户专享"
            page.evaluate("window.touchflow.reset()")  # logout: the next person on this browser starts fresh
            assert page.evaluate("window.touchflow.visitor()") != f"anon:{VISITOR}"
        finally:
            browser.close()
    assert find_contact_id(app.services, f"anon:{VISITOR}") == known
