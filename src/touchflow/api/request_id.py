"""Every request gets an id (``X-Request-ID``), echoed on the answer and written into its audit rows with the
client's IP and user agent (``security.request_context``).

A sane incoming ``X-Request-ID`` (1–64 characters of ``[A-Za-z0-9._-]``, e.g. from a proxy) is kept, so one id
follows a request across systems; anything else is replaced by a fresh one. The IP is the socket's peer:
a reverse proxy's ``X-Forwarded-For`` is trusted only when uvicorn is told to (``--forwarded-allow-ips``),
which rewrites the peer before this runs.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from touchflow.security.request_context import RequestContext, new_request_id, request_scope, sane_request_id

__all__ = ["REQUEST_ID_HEADER", "RequestId"]

REQUEST_ID_HEADER = "X-Request-ID"


class RequestId:
    """Pure ASGI middleware: no body buffering."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = sane_request_id(headers.get(REQUEST_ID_HEADER)) or new_request_id()
        client = scope.get("client")
        ip = str(client[0]) if client else None

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with request_scope(RequestContext(request_id, ip, headers.get("user-agent"))):
            await self.app(scope, receive, send_with_id)
