"""A small threaded HTTP server the connector fakes share: routing, a request log, rate limits and faults.

Each fake registers ``(method, path) -> handler``; a handler gets the parsed request and returns
``(status, json body, headers)``. Before the handler runs the server applies, in order: a queued fault
(``fail_next``: "5xx", "429", "timeout", or "lost": applied but answered 502), then the rate limit
(``rate_limit`` requests per ``window_s``, answered 429 with ``Retry-After``).
The log keeps every request, so tests can count retries and pages.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["ApiRequest", "FakeApiServer", "Reply"]

Reply = tuple[int, Any, dict[str, str]]


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


Handler = Callable[[ApiRequest], Reply]


class FakeApiServer:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.prefix_routes: list[tuple[str, str, Handler]] = []
        self.log: list[ApiRequest] = []
        self.faults: deque[str] = deque()
        self.rate_limit: int | None = None
        self.window_s = 1.0
        self.retry_after_s = 1
        self.stall_s = 3.0
        self.rate_limited = 0
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- set-up ----------------------------------------------------------------------------------------
    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def route_prefix(self, method: str, prefix: str, handler: Handler) -> None:
        self.prefix_routes.append((method, prefix, handler))

    def fail_next(self, *faults: str) -> None:
        self.faults.extend(faults)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeApiServer:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = ApiRequest(self.command, parts.path, dict(parse_qsl(parts.query)),
                                     {k.lower(): v for k, v in self.headers.items()}, body)
                status, payload, headers = fake.dispatch(request)
                if status == 0:  # a stall: answer nothing until the client gives up
                    time.sleep(fake.stall_s)
                    return
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- serving ---------------------------------------------------------------------------------------
    def dispatch(self, request: ApiRequest) -> Reply:
        with self._lock:
            self.log.append(request)
            if self.faults:
                fault = self.faults.popleft()
                if fault == "5xx":
                    return 503, {"message": "injected outage"}, {}
                if fault == "429":
                    self.rate_limited += 1
                    return 429, {"message": "slow down"}, {"Retry-After": str(self.retry_after_s)}
                if fault == "timeout":
                    return 0, None, {}
                lost = fault == "lost"  # the handler runs (the change is applied) and the answer is lost
            else:
                lost = False
            if self.rate_limit is not None:
                now = time.monotonic()
                while self._hits and now - self._hits[0] > self.window_s:
                    self._hits.popleft()
                if len(self._hits) >= self.rate_limit:
                    self.rate_limited += 1
                    return 429, {"message": "rate limit"}, {"Retry-After": str(self.retry_after_s)}
                self._hits.append(now)
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            for method, prefix, candidate in self.prefix_routes:
                if method == request.method and request.path.startswith(prefix):
                    handler = candidate
                    break
        if handler is None:
            return 404, {"message": f"no route {request.method} {request.path}"}, {}
        reply = handler(request)
        return (502, {"message": "injected: applied, answer lost"}, {}) if lost else reply

    def requests_to(self, path: str) -> list[ApiRequest]:
        return [r for r in self.log if r.path.startswith(path)]
