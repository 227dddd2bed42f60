"""One local HTTP server that imitates every HTTP provider Touchflow talks to, and checks its rules.

Paths: ``/sms/messages`` (neutral gateway), ``/aliyun/`` (dysmsapi RPC), ``/tencent/`` (SendSms API 3.0),
``/wecom/cgi-bin/…``, ``/mp/cgi-bin/…`` and ``/hook…``. Signatures are recomputed here independently of
the adapters (different code paths, the providers' documented rules) and wrong ones are refused in the
provider's own error shape. Faults come from a seeded ``FaultPlan`` so a failing run can be replayed.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes import provider_rules as rules

__all__ = ["FakeProviders", "FaultPlan", "Recorded"]


@dataclass(frozen=True)
class FaultPlan:
    """Per request, in this order: ``latency_s`` delay, then a ``timeout`` stall (no answer for ``stall_s``),
    a 5xx, or a 429 with ``Retry-After``; probabilities drawn from ``random.Random(seed)``."""

    error_5xx: float = 0.0
    timeout: float = 0.0
    rate_429: float = 0.0
    retry_after_s: float = 2.0
    latency_s: float = 0.0
    seed: int = 0
    stall_s: float = 1.5
    retry_after_as_date: bool = False
    only: str = ""  # path prefix the faults apply to ("" = every path)


@dataclass(frozen=True)
class Recorded:
    provider: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    idempotency_key: str | None

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class _State:
    requests: list[Recorded] = field(default_factory=list)
    rejections: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    token_calls: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, tuple[str, bool]] = field(default_factory=dict)  # token -> (provider, still valid)
    seen: dict[str, str] = field(default_factory=dict)  # dedup keys -> provider id
    nonces: set[str] = field(default_factory=set)
    counter: int = 0


class FakeProviders:
    """Start with ``start()``; tests read ``requests(...)`` and steer with the public attributes."""

    SMS_TOKEN = "sms-token"
    ALIYUN_KEY_ID, ALIYUN_SECRET = "testId", "testSecret"
    TENCENT_ID, TENCENT_KEY = "AKIDtest", "tencent-secret"
    WECOM_CORP, WECOM_SECRET = "ww-corp", "wecom-secret"
    MP_APP, MP_SECRET = "wx-app", "mp-secret"
    HOOK_SECRET = "hook-secret"

    def __init__(self) -> None:
        self.invalid: set[str] = set()  # numbers / userids / openids the provider says do not exist
        self.throttled: set[str] = set()  # recipients that hit the provider's frequency limit
        self.unfollowed: set[str] = set()  # openids that do not follow the official account
        self.token_lifetime_s = 7200
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.faults = FaultPlan()
        self.arrivals: list[tuple[float, str, bytes]] = []  # (time.monotonic(), path, body) of every request
        self._rng = random.Random(0)
        self._lock = threading.Lock()
        self._state = _State()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeProviders:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- steering and inspection -----------------------------------------------------------------
    def set_faults(self, plan: FaultPlan) -> None:
        with self._lock:
            self.faults = plan
            self._rng = random.Random(plan.seed)

    def expire_tokens(self, provider: str) -> None:
        """Every token issued so far to ``provider`` ("wecom" or "mp") is now expired on the server."""
        with self._lock:
            for token, (owner, _) in list(self._state.tokens.items()):
                if owner == provider:
                    self._state.tokens[token] = (owner, False)

    def forget_tokens(self, provider: str) -> None:
        """The server no longer knows ``provider``'s tokens (as after a secret reset): they are invalid."""
        with self._lock:
            for token, (owner, _) in list(self._state.tokens.items()):
                if owner == provider:
                    del self._state.tokens[token]

    def requests(self, provider: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self._state.requests if provider is None or r.provider == provider]

    def rejections(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._state.rejections)

    def token_calls(self, provider: str) -> int:
        with self._lock:
            return self._state.token_calls.get(provider, 0)

    # -- used by the handlers --------------------------------------------------------------------
    def next_id(self, prefix: str) -> str:
        with self._lock:
            self._state.counter += 1
            return f"{prefix}-{self._state.counter}"

    def record(self, rec: Recorded) -> None:
        with self._lock:
            self._state.requests.append(rec)

    def reject(self, path: str, reason: str) -> None:
        with self._lock:
            self._state.rejections.append((path, reason))

    def once(self, key: str, make: Callable[[], str]) -> tuple[str, bool]:
        """The provider id for a deduplication ``key``, and whether it was seen before."""
        with self._lock:
            if key in self._state.seen:
                return self._state.seen[key], True
        value = make()
        with self._lock:
            return self._state.seen.setdefault(key, value), False

    def use_nonce(self, nonce: str) -> bool:
        with self._lock:
            if nonce in self._state.nonces:
                return False
            self._state.nonces.add(nonce)
            return True

    def issue_token(self, provider: str) -> str:
        token = self.next_id(f"{provider}-token")
        with self._lock:
            self._state.tokens[token] = (provider, True)
            self._state.token_calls[provider] = self._state.token_calls.get(provider, 0) + 1
        return token

    def token_state(self, provider: str, token: str) -> str:
        """ "ok", "expired" or "invalid"."""
        with self._lock:
            found = self._state.tokens.get(token)
        if found is None or found[0] != provider:
            return "invalid"
        return "ok" if found[1] else "expired"

    def arrived(self, path: str, body: bytes) -> None:
        """Every request as it arrives, before any fault: what a provider would see on the wire."""
        with self._lock:
            self.arrivals.append((time.monotonic(), path, body))

    def draw_fault(self, path: str) -> tuple[FaultPlan, str | None]:
        with self._lock:
            plan = self.faults
            if plan.only and not path.startswith(plan.only):
                return plan, None
            r = self._rng.random()
        if r < plan.timeout:
            return plan, "timeout"
        if r < plan.timeout + plan.error_5xx:
            return plan, "5xx"
        if r < plan.timeout + plan.error_5xx + plan.rate_429:
            return plan, "429"
        return plan, None

    def stall(self, seconds: float) -> None:
        self._stop.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # header and body are separate writes; without this each reply waits ~40 ms
    server_version = "FakeProviders/1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake: FakeProviders = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        fake.arrived(split.path, body)
        plan, fault = fake.draw_fault(split.path)
        if plan.latency_s:
            fake.stall(plan.latency_s)
        if fault == "timeout":
            fake.stall(plan.stall_s)
            self.close_connection = True
            return
        if fault == "5xx":
            self._reply(503, {"error": "injected 5xx"})
            return
        if fault == "429":
            retry = rules.retry_after_value(plan.retry_after_s, plan.retry_after_as_date, fake.now())
            self._reply(429, {"error": "injected 429"}, {"Retry-After": retry})
            return
        request = rules.Incoming(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        status, payload, extra = rules.route(fake, request)
        self._reply(status, payload, extra)

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True
