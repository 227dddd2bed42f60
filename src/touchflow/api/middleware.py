"""What wraps every request: security headers on every answer, a size limit on every body.

Security headers, error pages included:

``X-Content-Type-Options: nosniff`` stops browsers from guessing a type other than the one sent (a file
served as text/plain is never run as HTML or script). An HTML page without its own CSP gets one that
allows nothing at all; pages that need more (``/docs``, the tracking pages) set their own.

Body limit: routes that read their body by hand refuse it past their own limit (``read_body``); this one
covers every route, including those FastAPI parses into a model before any route code runs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_HTML_POLICY", "BodyLimit", "SecurityHeaders", "wrap_outermost"]

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


class BodyLimit:
    """413 once a request body is known to exceed ``limit`` bytes: by its Content-Length, or while it streams.

    Raised as an ``HTTPException`` from ``receive``, which FastAPI passes through its body parsing, so the
    answer is the usual JSON error.
    """

    def __init__(self, app: ASGIApp, limit: int, own_limits: Collection[str] = ()) -> None:
        self.app = app
        self.limit = limit
        self.own_limits = frozenset(own_limits)  # paths that stream their body to disk and enforce their own limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "") in self.own_limits:
            await self.app(scope, receive, send)
            return
        too_big = HTTPException(413, f"body over {self.limit // (1024 * 1024)} MiB")
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self.app(scope, _refuse(too_big), send)
            return
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise too_big
            return message

        await self.app(scope, counting, send)


def _refuse(error: HTTPException) -> Receive:
    async def receive() -> Message:
        raise error

    return receive


def wrap_outermost(build: Callable[[], ASGIApp]) -> Callable[[], ASGIApp]:
    """Wrap a Starlette app's whole middleware stack, so even its last-resort 500 page gets the headers."""
    return lambda: SecurityHeaders(build())
