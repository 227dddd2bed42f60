"""A coarse device class from a tracking request's User-Agent: enough to split an open rate by device in
``explain`` without keeping the user agent itself (it is close to a fingerprint).

``proxy`` covers image proxies and privacy relays that fetch the pixel on the reader's behalf (Gmail, Yahoo, Apple
Mail Privacy Protection — whose fetches send a bare ``Mozilla/5.0`` — QQ Mail and NetEase 163/126), link scanners
and bots: their opens say little about a person reading.
"""

from __future__ import annotations

__all__ = ["DEVICE_CLASSES", "device_class"]

DEVICE_CLASSES = ("mobile", "tablet", "desktop", "wechat", "proxy", "unknown")
_PROXIES = ("googleimageproxy", "ggpht.com", "yahoomailproxy", "qqmail", "mail.qq.com", "netease", "163.com",
            "126.com", "imageproxy", "image proxy", "bot", "crawler", "spider", "preview", "scanner", "python-",
            "curl/", "wget/", "go-http-client", "java/", "okhttp")


def device_class(user_agent: str | None) -> str:
    """mobile, tablet, desktop, wechat (its in-app browser), proxy (image proxies, privacy relays, bots) or
    unknown (no user agent)."""
    ua = (user_agent or "").strip().lower()
    if not ua:
        return "unknown"
    if ua == "mozilla/5.0" or any(token in ua for token in _PROXIES):  # bare "Mozilla/5.0": Apple MPP's fetcher
        return "proxy"
    if "micromessenger" in ua:
        return "wechat"
    if "ipad" in ua or "tablet" in ua or ("android" in ua and "mobile" not in ua):
        return "tablet"
    if "mobile" in ua or "android" in ua or "iphone" in ua:
        return "mobile"
    return "desktop"
