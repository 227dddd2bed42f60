"""``?access_token=`` for WeCom and the WeChat official account, over dlt's retrying session.

Both APIs answer HTTP 200 with an ``errcode``: a token error (40001/40014 invalid, 42001 expired) fetches a fresh
token and repeats the request once (inside ``send``, so dlt's paginators never see the failed page); 45009 and
-1 (rate limit, busy) are retried by dlt's back-off; any other non-zero errcode fails the run naming the code.
The token is cached per run by the channels' ``TokenCache`` (one fetch, not one per page).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dlt.sources.helpers.requests import Response, Session
from requests import PreparedRequest
from requests.auth import AuthBase

from touchflow.channels.access_token import AccessToken, TokenCache

__all__ = ["TOKEN_ERRORS", "WeixinApiError", "WeixinTokenAuth", "weixin_retry"]

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
_RETRY_CODES = frozenset({-1, 45009, 45011})


class WeixinApiError(RuntimeError):
    def __init__(self, errcode: int, errmsg: str, path: str) -> None:
        super().__init__(f"{path}: errcode {errcode}: {errmsg}")
        self.errcode = errcode


def _errcode(response: Response | None) -> int:
    if response is None or response.status_code != 200:
        return 0
    try:
        body = response.json()
    except ValueError:
        return 0
    code = body.get("errcode", 0) if isinstance(body, dict) else 0
    return int(code) if isinstance(code, int) else 0


def weixin_retry(response: Response | None, exception: BaseException | None) -> bool:
    """dlt retry condition: the provider's rate-limit and busy codes come with HTTP 200."""
    return _errcode(response) in _RETRY_CODES


class WeixinTokenAuth(AuthBase):
    def __init__(self, session: Session, token_url: str, token_query: dict[str, str]) -> None:
        self.session = session
        self._token_url = token_url
        self._token_query = token_query
        self.tokens = TokenCache(self._fetch, margin_s=300.0)
        self.refreshes = 0
        # Wrap send, not a response hook: dlt's paginate passes its own hooks, which replace the session's.
        self._send = session.send
        session.send = self._checked_send  # type: ignore[method-assign]

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.prepare_url(request.url or "", {"access_token": self.tokens.get()})
        return request

    def _fetch(self) -> AccessToken:
        response = self.session.get(self._token_url, params=self._token_query)
        body = response.json()
        if not isinstance(body, dict) or not body.get("access_token"):
            code = body.get("errcode", -1) if isinstance(body, dict) else -1
            raise WeixinApiError(int(code), str(body.get("errmsg", "no token") if isinstance(body, dict) else ""),
                                 urlsplit(self._token_url).path)
        return AccessToken(str(body["access_token"]), float(body.get("expires_in", 7200)))

    def _checked_send(self, request: PreparedRequest, **kwargs: Any) -> Response:
        response: Response = self._send(request, **kwargs)  # type: ignore[no-untyped-call]
        code = _errcode(response)
        if code == 0 or code in _RETRY_CODES or response.request.url is None:
            return response
        path = urlsplit(response.request.url).path
        token_call = path == urlsplit(self._token_url).path  # a refused secret is final (and never recursive)
        if token_call or code not in TOKEN_ERRORS or getattr(response.request, "_token_retried", False):
            body = response.json()
            raise WeixinApiError(code, str(body.get("errmsg", "")), path)
        stale = dict(parse_qsl(urlsplit(response.request.url).query)).get("access_token", "")
        fresh = self.tokens.invalidate(stale)
        self.refreshes += 1
        again = response.request.copy()
        parts = urlsplit(again.url or "")
        query = [(k, fresh if k == "access_token" else v) for k, v in parse_qsl(parts.query)]
        again.url = urlunsplit(parts._replace(query=urlencode(query)))
        again._token_retried = True  # type: ignore[attr-defined]
        return self._checked_send(again, **kwargs)
