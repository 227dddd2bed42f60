"""Local fakes of WeCom customer contact (客户联系) and the WeChat official account's user APIs, after their docs.

WeCom: ``gettoken``, ``externalcontact/get_follow_user_list``, ``get_corp_tag_list``, ``batch/get_by_user`` (≤ 100
userids, ``limit`` ≤ 100, ``cursor``/``next_cursor``). Official account: ``token``, ``user/get`` (``next_openid``;
the page after the last is ``count`` 0 with no ``data``), ``user/info/batchget`` (≤ 100 openids). Errors come as
HTTP 200 with ``errcode``: 40001 bad secret, 42001 an expired token (``expire_tokens()``), 45009 rate limit
(``busy_next``). HTTP faults and 429s come from ``FakeApiServer``.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.api_server import ApiRequest, FakeApiServer, Reply

__all__ = ["FakeWeixin"]


class FakeWeixin(FakeApiServer):
    CORP_ID, CORP_SECRET = "ww-test-corp", "wecom-contact-secret"
    APP_ID, APP_SECRET = "wx-test-app", "mp-secret"

    def __init__(self) -> None:
        super().__init__()
        self.tokens: dict[str, bool] = {}  # token -> still valid
        self.token_calls = 0
        self.busy_next = 0
        self.follow_users: list[str] = []
        self.customers: dict[str, list[dict[str, Any]]] = {}  # follow user -> batch items
        self.tag_groups: list[dict[str, Any]] = []
        self.followers: list[dict[str, Any]] = []  # user/info shape
        self.user_get_page = 10_000
        self.route("GET", "/cgi-bin/gettoken", self._wecom_token)
        self.route("GET", "/cgi-bin/token", self._mp_token)
        self.route("GET", "/cgi-bin/externalcontact/get_follow_user_list", self._follow_users)
        self.route("POST", "/cgi-bin/externalcontact/get_corp_tag_list", self._tags)
        self.route("POST", "/cgi-bin/externalcontact/batch/get_by_user", self._by_user)
        self.route("GET", "/cgi-bin/user/get", self._user_get)
        self.route("POST", "/cgi-bin/user/info/batchget", self._batchget)

    def expire_tokens(self) -> None:
        self.tokens = dict.fromkeys(self.tokens, False)

    def _issue(self) -> Reply:
        self.token_calls += 1
        token = f"token-{self.token_calls}"
        self.tokens[token] = True
        return 200, {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}, {}

    def _wecom_token(self, r: ApiRequest) -> Reply:
        if r.query.get("corpid") != self.CORP_ID:
            return 200, {"errcode": 40013, "errmsg": "invalid corpid"}, {}
        if r.query.get("corpsecret") != self.CORP_SECRET:
            return 200, {"errcode": 40001, "errmsg": "invalid credential"}, {}
        return self._issue()

    def _mp_token(self, r: ApiRequest) -> Reply:
        if r.query.get("grant_type") != "client_credential" or r.query.get("appid") != self.APP_ID:
            return 200, {"errcode": 40013, "errmsg": "invalid appid"}, {}
        if r.query.get("secret") != self.APP_SECRET:
            return 200, {"errcode": 40125, "errmsg": "invalid appsecret"}, {}
        return self._issue()

    def _check(self, r: ApiRequest) -> Reply | None:
        token = r.query.get("access_token")
        if token not in self.tokens:
            return 200, {"errcode": 40014, "errmsg": "invalid access_token"}, {}
        if not self.tokens[token]:
            return 200, {"errcode": 42001, "errmsg": "access_token expired"}, {}
        if self.busy_next:
            self.busy_next -= 1
            return 200, {"errcode": 45009, "errmsg": "reach max api daily quota limit"}, {}
        return None

    def _follow_users(self, r: ApiRequest) -> Reply:
        return self._check(r) or (200, {"errcode": 0, "errmsg": "ok", "follow_user": self.follow_users}, {})

    def _tags(self, r: ApiRequest) -> Reply:
        return self._check(r) or (200, {"errcode": 0, "errmsg": "ok", "tag_group": self.tag_groups}, {})

    def _by_user(self, r: ApiRequest) -> Reply:
        refused = self._check(r)
        if refused:
            return refused
        body = r.json()
        users = body.get("userid_list") or []
        if not users or len(users) > 100:
            return 200, {"errcode": 40058, "errmsg": "userid_list: 1 to 100 userids"}, {}
        limit = min(int(body.get("limit") or 50), 100)
        items = [item for user in users for item in self.customers.get(user, [])]
        start = int(body.get("cursor") or 0)
        page = items[start:start + limit]
        more = start + limit < len(items)
        return 200, {"errcode": 0, "errmsg": "ok", "external_contact_list": page,
                     "next_cursor": str(start + limit) if more else ""}, {}

    def _user_get(self, r: ApiRequest) -> Reply:
        refused = self._check(r)
        if refused:
            return refused
        ids = [f["openid"] for f in self.followers if f.get("subscribe")]
        after = r.query.get("next_openid") or ""
        start = ids.index(after) + 1 if after else 0
        page = ids[start:start + self.user_get_page]
        if not page:
            return 200, {"total": len(ids), "count": 0, "next_openid": ""}, {}
        return 200, {"total": len(ids), "count": len(page), "data": {"openid": page}, "next_openid": page[-1]}, {}

    def _batchget(self, r: ApiRequest) -> Reply:
        refused = self._check(r)
        if refused:
            return refused
        wanted = [u["openid"] for u in r.json().get("user_list", [])]
        if not wanted or len(wanted) > 100:
            return 200, {"errcode": 40032, "errmsg": "invalid openid list size"}, {}
        by_id = {f["openid"]: f for f in self.followers}
        return 200, {"user_info_list": [by_id.get(o, {"subscribe": 0, "openid": o}) for o in wanted]}, {}
