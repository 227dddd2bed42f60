"""What a contact's mail client and browser reach after a message left: pixel, click redirect, unsubscribe,
preferences. No API key: the signed token in the path is the authority (``content.tokens``), one per purpose.

* ``GET /t/o/{token}`` — a 1×1 transparent GIF, never cached; the first load stores ``message_opened``.
* ``GET /t/c/{token}`` — 302 to the URL inside the token (http/https only); a bad token is a 400 page,
  never a redirect, so the endpoint cannot be used as an open redirect.
* ``GET /t/u/{token}`` — a confirmation page (中文 + English). Nothing changes on GET: link scanners
  follow links. ``POST /t/u/{token}`` unsubscribes: RFC 8058 one-click (``List-Unsubscribe=One-Click``,
  form-encoded or multipart) answers 200 without a redirect; the page's own form answers with a page.
* ``GET|POST /t/p/{token}`` — the preference page: one checkbox per channel the contact can be reached on.

Forms are parsed from the raw body with ``urllib.parse`` (python-multipart is not a dependency).
"""

from __future__ import annotations

import base64
import html
import logging
import re
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from touchflow.api.permissions import public
from touchflow.api.routes import api_state, read_body
from touchflow.content.tokens import InvalidToken, Purpose, TokenSigner
from touchflow.security.crypto import SecretError
from touchflow.services.tracking import (
    BadTrackingPayload,
    ChannelPreference,
    click_target,
    preferences,
    record_click,
    record_open,
    save_preferences,
    unsubscribe,
)

__all__ = ["PIXEL_GIF", "install", "router"]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/t", tags=["tracking"], include_in_schema=True)
_SIGNED = "the link's signed token (HMAC with the workspace key; names one message and one contact)"
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0, private", "Pragma": "no-cache",
             "Expires": "0"}
_PAGE_HEADERS = {**_NO_CACHE, "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex",
                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                            "base-uri 'none'; frame-ancestors 'none'"}
_FORM_MAX = 64 * 1024
_HTML = {"text/html": {"schema": {"type": "string"}}}
_BAD_LINK: dict[int | str, dict[str, Any]] = {400: {"description": "the link is invalid or damaged (a page)",
                                                    "content": _HTML}}
_PAGE: dict[int | str, dict[str, Any]] = {200: {"description": "a page", "content": _HTML}, **_BAD_LINK}
_CHANNEL_NAMES = {"email": "邮件 Email", "sms": "短信 SMS", "wecom": "企业微信 WeCom", "wechat_mp": "公众号 WeChat"}
_MULTIPART_FIELD = re.compile(rb'name="([^"]+)"\r?\n(?:[^\r\n]+\r?\n)*\r?\n([^\r\n]*)')


@runtime_checkable
class LinkSigning(Protocol):
    def link_secrets(self, now: datetime) -> tuple[str, ...]: ...


class _Signers:
    """A ``TokenSigner`` for the secrets usable now: the key ring is asked on every read, so a rotation in
    another process and the end of a grace period take effect without a restart."""

    def __init__(self, keys: LinkSigning) -> None:
        self._keys = keys
        self._signer: tuple[tuple[str, ...], TokenSigner] | None = None

    def at(self, now: datetime) -> TokenSigner:
        secrets = self._keys.link_secrets(now)
        cached = self._signer
        if cached is not None and cached[0] == secrets:
            return cached[1]
        signer = TokenSigner(secrets[0], old_keys=secrets[1:])
        self._signer = (secrets, signer)
        return signer


def install(app: FastAPI, application: object) -> None:
    """Mount the router; tokens are checked with ``application.link_secrets(now)`` (the key ring the
    dispatcher signs with). There is no fallback key: without one, no link verifies."""
    if not isinstance(application, LinkSigning):
        raise TypeError("the application must provide link_secrets(now) to verify tracking links")
    app.state.link_signers = _Signers(application)
    app.include_router(router)


def _read(request: Request, token: str, purpose: Purpose) -> dict[str, Any] | None:
    signers = request.app.state.link_signers
    assert isinstance(signers, _Signers)
    try:
        return signers.at(api_state(request).services.clock.now()).read_token(token, purpose)
    except InvalidToken:
        return None
    except SecretError:
        log.exception("no secret key to verify links with (run `touchflow init`)")
        return None


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title><style>body{{font-family:system-ui,sans-serif;max-width:34rem;"
        "margin:3rem auto;padding:0 1rem;line-height:1.6;color:#222}button{font-size:1rem;padding:.5rem 1.2rem}"
        "label{display:block;margin:.4rem 0}.muted{color:#666;font-size:.9rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return HTMLResponse(document, status_code=status, headers=_PAGE_HEADERS)


def _invalid_link() -> HTMLResponse:
    return _page("链接无效 Invalid link", "<p>这个链接无效或已损坏。</p><p>This link is invalid or damaged.</p>", 400)


async def _form(request: Request) -> dict[str, list[str]]:
    """Form fields of a urlencoded or multipart body (only simple text fields: all these forms have)."""
    body = await read_body(request, _FORM_MAX)
    if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        found: dict[str, list[str]] = {}
        for name, value in _MULTIPART_FIELD.findall(body):
            found.setdefault(name.decode("utf-8", "replace"), []).append(value.decode("utf-8", "replace"))
        return found
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


@router.get("/o/{token}", summary="Open pixel (records the first open)", response_class=Response,
            responses={200: {"description": "a 1×1 GIF, whatever the token", "content": {"image/gif": {}}}},
            **public(_SIGNED))
async def open_pixel(request: Request, token: str) -> Response:
    payload = _read(request, token, "open")
    if payload is not None:
        try:
            await api_state(request).write(record_open, api_state(request).services, payload,
                                          request.headers.get("user-agent"))
        except BadTrackingPayload:
            log.info("an open pixel of a contact that no longer exists")
        except Exception:  # the mail client still gets its image
            log.exception("could not record an open")
    return Response(PIXEL_GIF, media_type="image/gif", headers=_NO_CACHE)


@router.get("/c/{token}", summary="Click redirect (records the click)", response_class=Response,
            responses={302: {"description": "to the link's target", "headers": {"Location": {
                "description": "the target (http or https)", "schema": {"type": "string"}}}}, **_BAD_LINK},
            **public(_SIGNED))
async def click(request: Request, token: str) -> Response:
    payload = _read(request, token, "click")
    if payload is None:
        return _invalid_link()
    try:
        target = click_target(payload)
    except BadTrackingPayload:
        return _invalid_link()
    try:
        await api_state(request).write(record_click, api_state(request).services, payload,
                                      request.headers.get("user-agent"))
    except Exception:  # the reader still gets where they wanted to go; the miss is logged
        log.exception("could not record a click")
    return RedirectResponse(target, status_code=302, headers=_NO_CACHE)


@router.get("/u/{token}", summary="Unsubscribe confirmation page", response_class=HTMLResponse, responses=_PAGE,
            **public(_SIGNED))
async def unsubscribe_page(request: Request, token: str) -> Response:
    if _read(request, token, "unsubscribe") is None:
        return _invalid_link()
    return _page("退订 Unsubscribe", (
        "<p>确认不再接收此类营销消息？</p><p>Stop receiving these marketing messages?</p>"
        '<form method="post"><input type="hidden" name="confirm" value="yes">'
        '<label><input type="checkbox" name="scope" value="all"> 退订所有渠道 Unsubscribe from every channel</label>'
        "<button type=\"submit\">确认退订 Unsubscribe</button></form>"))


@router.post("/u/{token}", summary="Unsubscribe (RFC 8058 one-click, or the confirmation form)",
             response_class=Response, responses={200: {"description": "a page, or `unsubscribed` (one-click)",
                                                       "content": {**_HTML, "text/plain": {}}}, **_BAD_LINK},
             **public(_SIGNED))
async def unsubscribe_post(request: Request, token: str) -> Response:
    payload = _read(request, token, "unsubscribe")
    if payload is None:
        return _invalid_link()
    form = await _form(request)
    one_click = "One-Click" in form.get("List-Unsubscribe", [])
    scope = "all" if "all" in form.get("scope", []) else None
    state = api_state(request)
    try:
        await state.write(unsubscribe, state.services, payload, method="one_click" if one_click else "page",
                          channel=scope)
    except BadTrackingPayload:
        return _invalid_link()
    if one_click:
        return PlainTextResponse("unsubscribed", headers=_NO_CACHE)
    return _page("已退订 Unsubscribed", "<p>您已退订，我们不会再发送此类消息。</p>"
                                       "<p>You are unsubscribed; we will not send you these messages again.</p>")


def _preference_form(found: list[ChannelPreference], saved: bool) -> str:
    rows = "".join(
        f'<label><input type="checkbox" name="on" value="{html.escape(p.channel)}"'
        f'{"" if p.status == "denied" else " checked"}> {html.escape(_CHANNEL_NAMES.get(p.channel, p.channel))}'
        f' <span class="muted">{html.escape(p.address)}</span></label>' for p in found)
    shown = html.escape(",".join(p.channel for p in found))
    note = "<p><strong>已保存 Saved.</strong></p>" if saved else ""
    return (f"{note}<p>选择您愿意接收消息的渠道。Choose where we may send you messages.</p>"
            f'<form method="post"><input type="hidden" name="shown" value="{shown}">{rows}'
            '<button type="submit">保存 Save</button></form>')


@router.get("/p/{token}", summary="Preference page (consent per channel)", response_class=HTMLResponse,
            responses=_PAGE, **public(_SIGNED))
async def preference_page(request: Request, token: str) -> Response:
    payload = _read(request, token, "preferences")
    if payload is None or not isinstance(payload.get("c"), str):
        return _invalid_link()
    try:
        found = await run_in_threadpool(preferences, api_state(request).services, payload["c"])
    except BadTrackingPayload:
        return _invalid_link()
    return _page("订阅偏好 Preferences", _preference_form(found, saved=False))


@router.post("/p/{token}", summary="Save preferences", response_class=HTMLResponse, responses=_PAGE,
             **public(_SIGNED))
async def preference_save(request: Request, token: str) -> Response:
    payload = _read(request, token, "preferences")
    if payload is None or not isinstance(payload.get("c"), str):
        return _invalid_link()
    form = await _form(request)
    ticked = set(form.get("on", []))
    shown = {c for value in form.get("shown", []) for c in value.split(",") if c}
    state = api_state(request)
    try:
        shown_now = await run_in_threadpool(preferences, state.services, payload["c"])
        current = {p.channel: p.status for p in shown_now}
        choices = {c: ("granted" if c in ticked else "denied") for c in shown & set(current)
                   if (c in ticked) == (current[c] == "denied")}  # only what the contact changed
        found = await state.write(save_preferences, state.services, payload["c"], choices)
    except BadTrackingPayload:
        return _invalid_link()
    return _page("订阅偏好 Preferences", _preference_form(found, saved=True))
