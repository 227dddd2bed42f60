"""WeCom (企业微信) external contacts: every customer of every follow user, with tags, as contact rows.

Calls, as documented: ``gettoken`` (corpid + the customer-contact secret), ``externalcontact/get_follow_user_list``,
``externalcontact/get_corp_tag_list`` (tag ids to names), then ``externalcontact/batch/get_by_user`` for up to 100
follow users at a time, paged by ``cursor``/``next_cursor`` in the body (dlt's cursor paginator). One row per
(customer, follow user); the unionid, when WeCom gives it, joins the customer to official-account followers and
shop buyers (identity resolution merges records that share an identifier).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.sources.helpers.rest_client.client import RESTClient
from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

from touchflow.engine.connectors.http_session import (
    retrying_session,
    setting_int,
    setting_str,
    setting_str_or,
)
from touchflow.engine.connectors.kinds import SourceRequest
from touchflow.engine.connectors.weixin_auth import WeixinTokenAuth, weixin_retry

__all__ = ["build_wecom_source", "wecom_rows"]

_GENDER = {1: "male", 2: "female"}


def _client(request: SourceRequest) -> RESTClient:
    base = setting_str_or(request.settings, "base_url", "https://qyapi.weixin.qq.com").rstrip("/")
    session = retrying_session(request.settings, retry_if=weixin_retry)
    corp_id = setting_str(request.settings, "corp_id")
    secret = request.secrets.get("secret") or ""
    auth = WeixinTokenAuth(session, f"{base}/cgi-bin/gettoken", {"corpid": corp_id, "corpsecret": secret})
    return RESTClient(base_url=base, session=session, auth=auth)


def wecom_rows(request: SourceRequest) -> Iterator[dict[str, Any]]:
    client = _client(request)
    try:
        yield from _rows(client, request)
    finally:
        client.session.close()


def _rows(client: RESTClient, request: SourceRequest) -> Iterator[dict[str, Any]]:
    batch = setting_int(request.settings, "page_size", 100, low=1, high=100)
    follow = client.get("cgi-bin/externalcontact/get_follow_user_list").json().get("follow_user", [])
    tag_names: dict[str, str] = {}
    groups = client.post("cgi-bin/externalcontact/get_corp_tag_list", json={}).json().get("tag_group", [])
    for group in groups:
        for tag in group.get("tag", []):
            tag_names[str(tag["id"])] = str(tag["name"])
    for start in range(0, len(follow), 100):
        body = {"userid_list": follow[start:start + 100], "limit": batch}
        paginator = JSONResponseCursorPaginator(cursor_path="next_cursor", cursor_body_path="cursor")
        for page in client.paginate("cgi-bin/externalcontact/batch/get_by_user", method="POST", json=body,
                                    paginator=paginator, data_selector="external_contact_list"):
            for item in page:
                yield _row(item, tag_names)


def _row(item: dict[str, Any], tag_names: dict[str, str]) -> dict[str, Any]:
    contact, follow = item.get("external_contact", {}), item.get("follow_info", {})
    row: dict[str, Any] = {
        "wecom_external_userid": contact.get("external_userid"),
        "wechat_unionid": contact.get("unionid"),
        "name": contact.get("name"),
        "gender": _GENDER.get(contact.get("gender", 0)),
        "company": contact.get("corp_full_name") or contact.get("corp_name"),
        "job_title": contact.get("position"),
        "custom.wecom_follow_user": follow.get("userid"),
        "custom.wecom_remark": follow.get("remark"),
        "tags": ";".join(tag_names.get(t, t) for t in follow.get("tag_id", [])),
    }
    mobiles = follow.get("remark_mobiles") or []
    if mobiles:
        row["phone"] = mobiles[0]
    if follow.get("createtime"):
        row["custom.wecom_added_at"] = datetime.fromtimestamp(int(follow["createtime"]), UTC).isoformat()
    return {k: v for k, v in row.items() if v not in (None, "")}


def build_wecom_source(request: SourceRequest) -> Any:
    return dlt.resource(wecom_rows(request), name=request.connector_name, write_disposition="append")


def test_kind(request: SourceRequest) -> None:
    """``connector test``: a token and the follow-user list prove the corp id, the secret and the permission."""
    _client(request).get("cgi-bin/externalcontact/get_follow_user_list")
