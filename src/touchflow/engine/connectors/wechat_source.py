"""WeChat official-account (公众号) followers as contacts, or their subscriptions as events.

Calls, as documented: ``cgi-bin/token`` (appid + secret), ``cgi-bin/user/get`` paged by ``next_openid`` (dlt's
cursor paginator; the last page is empty), then ``cgi-bin/user/info/batchget`` for 100 openids at a time. Contact
rows carry the openid and, when the account is bound to an open platform, the unionid that joins the follower
to the same person's WeCom and shop records. As events, each follower gives a ``subscribe`` event (its id is
derived from openid and subscribe time, so a re-read stores nothing twice) and a follower that has left
(``subscribe`` = 0 in the batch answer) gives an ``unsubscribe`` event for the ``wechat`` channel, which
withdraws that consent through the normal ingest path.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.sources.helpers.rest_client.client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

from touchflow.engine.connectors.http_session import retrying_session, setting_str, setting_str_or
from touchflow.engine.connectors.kinds import SourceRequest
from touchflow.engine.connectors.weixin_auth import WeixinTokenAuth, weixin_retry

__all__ = ["build_wechat_source", "follower_rows"]


def _client(request: SourceRequest) -> RESTClient:
    base = setting_str_or(request.settings, "base_url", "https://api.weixin.qq.com").rstrip("/")
    session = retrying_session(request.settings, retry_if=weixin_retry)
    query = {"grant_type": "client_credential", "appid": setting_str(request.settings, "app_id"),
             "secret": request.secrets.get("secret") or ""}
    return RESTClient(base_url=base, session=session, auth=WeixinTokenAuth(session, f"{base}/cgi-bin/token", query))


def _followers(client: RESTClient) -> Iterator[list[dict[str, Any]]]:
    paginator = JSONResponseCursorPaginator(cursor_path="next_openid", cursor_param="next_openid",
                                            stop_after_empty_page=True)
    openids: list[str] = []
    for page in client.paginate("cgi-bin/user/get", paginator=paginator, data_selector="data.openid"):
        openids.extend(str(o) for o in page)
        while len(openids) >= 100:
            yield _batch_info(client, openids[:100])
            openids = openids[100:]
    if openids:
        yield _batch_info(client, openids)


def _batch_info(client: RESTClient, openids: list[str]) -> list[dict[str, Any]]:
    body = {"user_list": [{"openid": o, "lang": "zh_CN"} for o in openids]}
    answer = client.post("cgi-bin/user/info/batchget", json=body).json()
    infos: list[dict[str, Any]] = answer.get("user_info_list", [])
    return infos


def follower_rows(request: SourceRequest) -> Iterator[dict[str, Any]]:
    client = _client(request)
    try:
        for infos in _followers(client):
            for info in infos:
                row = _event(info) if request.record_kind == "events" else _contact(info)
                if row is not None:
                    yield row
    finally:
        client.session.close()


def _contact(info: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"wechat_openid": info.get("openid"), "wechat_unionid": info.get("unionid"),
                           "custom.wechat_subscribed": bool(info.get("subscribe")),
                           "custom.wechat_subscribe_scene": info.get("subscribe_scene"),
                           "custom.wechat_remark": info.get("remark")}
    if info.get("subscribe_time"):
        row["custom.wechat_subscribed_at"] = _iso(info["subscribe_time"])
    return {k: v for k, v in row.items() if v not in (None, "")}


def _event(info: dict[str, Any]) -> dict[str, Any] | None:
    openid, at = info.get("openid"), info.get("subscribe_time")
    if not openid:
        return None
    subscribed = bool(info.get("subscribe"))
    if subscribed and not at:
        return None
    kind = "subscribe" if subscribed else "unsubscribe"
    identities = {"wechat_openid": openid, **({"wechat_unionid": info["unionid"]} if info.get("unionid") else {})}
    return {"id": f"wechat-{kind}-{openid}-{at or 'left'}", "type": kind,
            "occurred_at": _iso(at) if at else None, **identities,
            "properties": {"channel": "wechat", "scene": info.get("subscribe_scene") or ""}}


def _iso(epoch: Any) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).isoformat()


def build_wechat_source(request: SourceRequest) -> Any:
    return dlt.resource(follower_rows(request), name=request.connector_name, write_disposition="append")


def test_kind(request: SourceRequest) -> None:
    _client(request).get("cgi-bin/user/get")
