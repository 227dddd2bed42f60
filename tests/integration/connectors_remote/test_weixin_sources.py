"""WeCom external contacts and official-account followers against local fakes; unionid joins them to a buyer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.weixin_apis import FakeWeixin
from tests.integration.connectors_remote.dlt_run import collect
from touchflow.bootstrap import Application
from touchflow.engine.connectors.kinds import SourceRequest, get_kind
from touchflow.services.ingest import RawItem, record_events, upsert_contacts

UNION = "oUnion-shared-1"


@pytest.fixture
def wx() -> Iterator[FakeWeixin]:
    fake = FakeWeixin()
    fake.follow_users = ["sales_wang", "sales_li"]
    fake.tag_groups = [{"group_id": "g1", "group_name": "意向", "tag": [{"id": "t-hot", "name": "高意向"}]}]
    fake.customers = {
        "sales_wang": [_customer(f"wm-{i}", f"客户{i}", "sales_wang", UNION if i == 0 else None) for i in range(5)],
        "sales_li": [_customer("wm-0", "客户0", "sales_li", UNION)],  # one customer, two follow users
    }
    fake.followers = [{"subscribe": 1, "openid": f"o-{i}", "subscribe_time": 1767225600 + i, "language": "zh_CN",
                       "unionid": UNION if i == 0 else f"oUnion-{i}", "subscribe_scene": "ADD_SCENE_QR_CODE"}
                      for i in range(5)]
    fake.start()
    yield fake
    fake.stop()


def _customer(ext: str, name: str, user: str, unionid: str | None) -> dict[str, Any]:
    contact: dict[str, Any] = {"external_userid": ext, "name": name, "type": 1, "gender": 2, "corp_name": "腾讯"}
    if unionid:
        contact["unionid"] = unionid
    return {"external_contact": contact, "follow_info": {"userid": user, "remark": "", "createtime": 1525779812,
                                                         "tag_id": ["t-hot"], "remark_mobiles": []}}


def _req(kind: str, wx: FakeWeixin, record_kind: str = "contacts", secret: str | None = None) -> SourceRequest:
    settings: dict[str, Any] = {"base_url": wx.url, "backoff_s": 0, "max_delay_s": 1, "timeout_s": 2,
                                "page_size": 2}
    if kind == "wecom_contacts":
        settings["corp_id"] = FakeWeixin.CORP_ID
        secrets = {"secret": secret or FakeWeixin.CORP_SECRET}
    else:
        settings["app_id"] = FakeWeixin.APP_ID
        secrets = {"secret": secret or FakeWeixin.APP_SECRET}
    return SourceRequest("wx", settings, secrets, None, None, record_kind)  # type: ignore[arg-type]


def test_wecom_reads_every_customer_of_every_follow_user_with_tag_names(wx: FakeWeixin, tmp_path: Path) -> None:
    rows = collect(get_kind("wecom_contacts").build(_req("wecom_contacts", wx)), tmp_path)
    assert len(rows) == 6
    first = next(r for r in rows if r["wecom_external_userid"] == "wm-0")
    assert first["wechat_unionid"] == UNION and first["tags"] == "高意向" and first["gender"] == "female"
    assert first["company"] == "腾讯"
    cursors = [r.json().get("cursor") for r in wx.requests_to("/cgi-bin/externalcontact/batch/get_by_user")]
    assert cursors == [None, "2", "4"]  # limit 2 over 6 items, cursor in the body
    assert wx.token_calls == 1  # one token for the whole run


def test_wecom_refreshes_an_expired_token_once_and_retries_rate_limits(wx: FakeWeixin, tmp_path: Path) -> None:
    source = get_kind("wecom_contacts").build(_req("wecom_contacts", wx))
    wx.fail_next("5xx")  # the token call itself hits an outage first
    original = wx._by_user

    def expiring(r: Any) -> Any:  # the token expires in the middle of the paging
        if r.json().get("cursor") == "2" and wx.token_calls == 1:
            wx.expire_tokens()
            wx.busy_next = 1
        return original(r)

    wx.route("POST", "/cgi-bin/externalcontact/batch/get_by_user", expiring)
    rows = collect(source, tmp_path)
    assert len(rows) == 6 and len({(r["wecom_external_userid"], r["custom.wecom_follow_user"]) for r in rows}) == 6
    assert wx.token_calls == 2


def test_wecom_wrong_secret_names_the_errcode(wx: FakeWeixin, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="40001"):
        collect(get_kind("wecom_contacts").build(_req("wecom_contacts", wx, secret="wrong")), tmp_path)


def test_followers_page_by_next_openid_and_batch_their_info(wx: FakeWeixin, tmp_path: Path) -> None:
    wx.user_get_page = 2
    rows = collect(get_kind("wechat_followers").build(_req("wechat_followers", wx)), tmp_path)
    assert sorted(r["wechat_openid"] for r in rows) == [f"o-{i}" for i in range(5)]
    assert rows[0]["wechat_unionid"] == UNION and rows[0]["custom.wechat_subscribed"] is True
    assert [r.query.get("next_openid") for r in wx.requests_to("/cgi-bin/user/get")] == [None, "o-1", "o-3", "o-4"]


def test_followers_as_subscribe_events(wx: FakeWeixin, tmp_path: Path) -> None:
    rows = collect(get_kind("wechat_followers").build(_req("wechat_followers", wx, "events")), tmp_path)
    assert {r["type"] for r in rows} == {"subscribe"}
    assert rows[0]["id"] == "wechat-subscribe-o-0-1767225600"
    assert str(rows[0]["occurred_at"]).startswith("2026-01-01")
    assert rows[0]["properties"] == {"channel": "wechat", "scene": "ADD_SCENE_QR_CODE"}


def test_follower_wecom_customer_and_shop_buyer_become_one_contact(app: Application, wx: FakeWeixin,
                                                                     tmp_path: Path) -> None:
    """The unionid is the thread: a buyer known by phone and unionid, then the follower, then the customer."""
    buyer = upsert_contacts(app.services, "shop", [RawItem({"phone": "13800000001", "wechat_unionid": UNION,
                                                            "name": "王芳"})])
    followers = collect(get_kind("wechat_followers").build(_req("wechat_followers", wx)), tmp_path, "mp")
    customers = collect(get_kind("wecom_contacts").build(_req("wecom_contacts", wx)), tmp_path, "wecom")
    mp = upsert_contacts(app.services, "wechat_mp", [RawItem(r) for r in followers])
    wecom = upsert_contacts(app.services, "wecom", [RawItem(r) for r in customers])
    assert not mp.rejected and not wecom.rejected
    person = buyer.contact_ids[0]
    assert mp.contact_ids[[r["wechat_openid"] for r in followers].index("o-0")] == person
    joined = [cid for r, cid in zip(customers, wecom.contact_ids, strict=True) if r["wecom_external_userid"] == "wm-0"]
    assert joined == [person, person]
    others = {cid for r, cid in zip(customers, wecom.contact_ids, strict=True) if r["wecom_external_userid"] != "wm-0"}
    assert person not in others and len(others) == 4
    events = collect(get_kind("wechat_followers").build(_req("wechat_followers", wx, "events")), tmp_path, "ev")
    report = record_events(app.services, "wechat_mp", [RawItem(r) for r in events])
    assert report.accepted == 5 and not report.rejected
    again = record_events(app.services, "wechat_mp", [RawItem(r) for r in events])
    assert again.duplicates == 5  # a re-read stores nothing twice
