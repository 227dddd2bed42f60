"""A cached access token for WeCom and the WeChat official account.

Both providers hand out a token valid for ``expires_in`` seconds (7,200) and rate-limit the token endpoint
hard, so one token is shared by every send until shortly before it expires. When the provider says the
token is invalid anyway (another process refreshed it, or it was revoked) the caller asks for a fresh one
once. Fetching happens under a lock so concurrent senders trigger one fetch, not one each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from touchflow.channels.base import Delivery, Outgoing, PermanentError, TransientError
from touchflow.channels.http_common import delivery_for_exception, delivery_for_status, json_object

__all__ = ["AccessToken", "TokenCache", "TokenedApi", "WeixinCall"]


@dataclass(frozen=True)
class AccessToken:
    value: str
    expires_in: float


class TokenCache:
    """Holds one token; ``fetch`` asks the provider (and raises ``TransientError``/``PermanentError``)."""

    def __init__(
        self,
        fetch: Callable[[], AccessToken],
        *,
        margin_s: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._margin = margin_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._token: str | None = None
        self._valid_until = 0.0
        self.fetches = 0  # how many times the provider was asked; tests and metrics read it

    def get(self) -> str:
        with self._lock:
            if self._token is None or self._monotonic() >= self._valid_until:
                self._refresh_locked()
            assert self._token is not None
            return self._token

    def invalidate(self, stale: str) -> str:
        """The provider rejected ``stale``: fetch a new token unless another thread already did."""
        with self._lock:
            if self._token is None or self._token == stale:
                self._refresh_locked()
            assert self._token is not None
            return self._token

    def _refresh_locked(self) -> None:
        token = self._fetch()
        self.fetches += 1
        self._token = token.value
        lifetime = max(0.0, token.expires_in - self._margin)
        self._valid_until = self._monotonic() + lifetime


@dataclass(frozen=True)
class WeixinCall:
    """One answered call: the parsed body, or the ``Delivery`` that HTTP alone decided (5xx, 429, timeout)."""

    body: dict[str, Any] | None
    decided: Delivery | None

    @property
    def errcode(self) -> int:
        code = (self.body or {}).get("errcode", 0)
        return int(code) if isinstance(code, int | str) and str(code).lstrip("-").isdigit() else -1


class TokenedApi:
    """WeCom and the official account alike: ``?access_token=`` on every call, ``errcode`` in every answer.

    A token error (invalid or expired) fetches a new token and repeats the call once.
    """

    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        token_path: str,
        token_query: Mapping[str, str],
        token_errors: frozenset[int],
        *,
        margin_s: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/")
        self._token_path = token_path
        self._token_query = dict(token_query)
        self._token_errors = token_errors
        self.tokens = TokenCache(self._fetch, margin_s=margin_s, monotonic=monotonic)

    def post(self, message: Outgoing, path: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> WeixinCall:
        """POST ``body``; token and transport failures come back as a decided ``Delivery`` for ``message``."""
        try:
            token = self.tokens.get()
            call = self._post(message, path, token, body, headers)
            if call.decided is None and call.errcode in self._token_errors:
                call = self._post(message, path, self.tokens.invalidate(token), body, headers)
        except TransientError as exc:
            return WeixinCall(None, Delivery(message.message_id, "retry", error=str(exc), retry_after=exc.retry_after))
        except PermanentError as exc:
            return WeixinCall(None, Delivery(message.message_id, "failed", error=str(exc)))
        except httpx.HTTPError as exc:
            return WeixinCall(None, delivery_for_exception(message, exc))
        return call

    def _post(
        self, message: Outgoing, path: str, token: str, body: Mapping[str, Any], headers: Mapping[str, str]
    ) -> WeixinCall:
        response = self._client.post(
            self._base + path, params={"access_token": token}, json=dict(body), headers=dict(headers)
        )
        decided = delivery_for_status(message, response)
        if decided is not None:
            return WeixinCall(None, decided)
        parsed = json_object(response)
        if parsed is None:
            return WeixinCall(None, Delivery(message.message_id, "retry", error="answer was not JSON"))
        return WeixinCall(parsed, None)

    def _fetch(self) -> AccessToken:
        try:
            response = self._client.get(self._base + self._token_path, params=self._token_query)
        except httpx.HTTPError as exc:
            raise TransientError(f"access token: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"access token: HTTP {response.status_code}")
        body = json_object(response) or {}
        token = body.get("access_token")
        if response.status_code == 200 and isinstance(token, str) and token:
            return AccessToken(token, float(body.get("expires_in") or 7200))
        errcode = body.get("errcode")
        reason = f"access token refused: errcode {errcode}: {body.get('errmsg', response.text[:200])}"
        if errcode in (-1, 45009, 45011):  # busy or rate-limited: the credentials are fine
            raise TransientError(reason)
        raise PermanentError(reason)  # wrong corpid/appid/secret or IP not allow-listed: fix the settings
