"""Security headers on every answer of the app, error pages included.

``X-Content-Type-Options: nosniff`` stops browsers from guessing a type other than the one sent (a file
served as text/plain is never run as HTML or script). An HTML page without its own CSP gets one that
allows nothing at all; pages that need more (``/docs``, the tracking pages) set their own.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_HTML_POLICY", "SecurityHeaders", "wrap_outermost"]

DEFAULT_HTML_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


class SecurityHeaders:
    """Pure ASGI middleware (no body buffering, so streaming answers stay streaming)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                if (headers.get("content-type", "").lower().startswith("text/html")
                        and "content-security-policy" not in headers):
                    headers["Content-Security-Policy"] = DEFAULT_HTML_POLICY
            await send(message)

        await self.app(scope, receive, send_with_headers)


def wrap_outermost(build: Callable[[], ASGIApp]) -> Callable[[], ASGIApp]:
    """Wrap a Starlette app's whole middleware stack, so even its last-resort 500 page gets the headers."""
    return lambda: SecurityHeaders(build())
