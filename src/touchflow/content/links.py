"""Links in messages: tracking URLs (click, open, unsubscribe, preferences) and the pre-launch link check (J10).

Tracking paths, served by the HTTP API: ``/t/c/<token>`` redirects to the original URL, ``/t/o/<token>`` is
the open pixel, ``/t/u/<token>`` unsubscribes (one click) and ``/t/p/<token>`` opens the preference page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from touchflow.content.tokens import TokenSigner

__all__ = ["LinkProblem", "Tracking", "check_links", "extract_links", "rewrite_links"]

CLICK_PATH = "/t/c/"
OPEN_PATH = "/t/o/"
UNSUBSCRIBE_PATH = "/t/u/"
PREFERENCES_PATH = "/t/p/"

# href/src="…" or '…' inside any tag (checked); only <a>/<area> hrefs are rewritten for tracking.
_ATTR = re.compile(r"""<[a-zA-Z][a-zA-Z0-9:-]*\b[^>]*?\s(?P<attr>href|src)\s*=\s*(?P<q>["'])(?P<url>.*?)(?P=q)""",
                   re.DOTALL | re.IGNORECASE)
_HREF = re.compile(r"""(?P<head><(?:a|area)\b[^>]*?\shref\s*=\s*)(?P<q>["'])(?P<url>.*?)(?P=q)""",
                   re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>", re.DOTALL)
_ANCHOR = re.compile(r"<a\b[^>]*>.*?</a\s*>", re.DOTALL | re.IGNORECASE)  # its text repeats its href
_BARE = re.compile(r"""\b[a-zA-Z][a-zA-Z0-9+.-]{0,15}://[^\s<>"'()\[\]{}]+""")
_SKIPPED_SCHEMES = ("mailto:", "tel:", "sms:", "cid:", "data:", "#")
_TRAILING = ".,;:!?。，；：！？、）)"


@dataclass(frozen=True)
class Tracking:
    """Where tracking links point and whose message they belong to."""

    base_url: str
    signer: TokenSigner
    message_id: str
    contact_id: str

    def _url(self, path: str, token: str) -> str:
        return f"{self.base_url.rstrip('/')}{path}{token}"

    def click_url(self, url: str) -> str:
        return self._url(CLICK_PATH, self.signer.make_token(
            "click", {"m": self.message_id, "c": self.contact_id, "u": url}))

    def open_pixel_url(self) -> str:
        return self._url(OPEN_PATH, self.signer.make_token("open", {"m": self.message_id, "c": self.contact_id}))

    def unsubscribe_url(self) -> str:
        return self._url(UNSUBSCRIBE_PATH, self.signer.make_token(
            "unsubscribe", {"m": self.message_id, "c": self.contact_id}))

    def preferences_url(self) -> str:
        return self._url(PREFERENCES_PATH, self.signer.make_token(
            "preferences", {"m": self.message_id, "c": self.contact_id}))

    def is_own(self, url: str) -> bool:
        """True for URLs that already point at the tracking server (unsubscribe, preferences, pixel)."""
        return url.startswith(self.base_url.rstrip("/") + "/")


def _trackable(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("http", "https")


def rewrite_links(content: str, tracking: Tracking, *, is_html: bool = True) -> str:
    """Every http(s) ``<a href>`` (HTML) or bare URL (text) through the click redirect; own links untouched."""
    if is_html:
        def swap_href(match: re.Match[str]) -> str:
            url = html.unescape(match["url"]).strip()
            if not _trackable(url) or tracking.is_own(url):
                return match[0]
            return f"{match['head']}{match['q']}{html.escape(tracking.click_url(url))}{match['q']}"
        return _HREF.sub(swap_href, content)

    def swap_bare(match: re.Match[str]) -> str:
        url, tail = _split_trailing(match[0])
        if not _trackable(url) or tracking.is_own(url):
            return match[0]
        return tracking.click_url(url) + tail
    return _BARE.sub(swap_bare, content)


def _split_trailing(url: str) -> tuple[str, str]:
    """Sentence punctuation after a bare URL belongs to the sentence, not the URL."""
    stripped = url.rstrip(_TRAILING)
    return stripped, url[len(stripped):]


@dataclass(frozen=True)
class FoundLink:
    url: str
    kind: str  # "href" | "src" | "text"


def extract_links(content: str) -> Iterator[FoundLink]:
    """href/src attribute values (any tag) and bare URLs in the text between tags."""
    for match in _ATTR.finditer(content):
        yield FoundLink(html.unescape(match["url"]), "src" if match["attr"].lower() == "src" else "href")
    text = _TAG.sub(" ", _ANCHOR.sub(" ", content))
    for match in _BARE.finditer(text):
        yield FoundLink(html.unescape(_split_trailing(match[0])[0]), "text")


@dataclass(frozen=True)
class LinkProblem:
    url: str
    problem: str


def _host_allowed(host: str, allowed: Collection[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in allowed)


def check_links(content: str, *, allowed_domains: Collection[str], require_tracking: bool = False,
                base_url: str | None = None) -> list[LinkProblem]:
    """What is wrong with the links in ``content`` (J10): form, domain, tracking. Empty when all is well.

    ``allowed_domains`` allows subdomains too (``example.com`` allows ``www.example.com``); the tracking
    server's own host is always allowed. ``require_tracking`` asks every clickable link (href or text) to go
    through ``base_url``'s click redirect.
    """
    if require_tracking and not base_url:
        raise ValueError("require_tracking needs base_url, the tracking server the links must go through")
    allowed = {d.strip().lower().lstrip(".") for d in allowed_domains if d.strip()}
    own = urlsplit(base_url).hostname if base_url else None
    if own:
        allowed.add(own.lower())
    tracked_prefix = (base_url or "").rstrip("/") + "/t/"
    problems: list[LinkProblem] = []
    seen: set[tuple[str, str]] = set()
    for link in extract_links(content):
        problem = _problem(link, allowed, require_tracking, tracked_prefix)
        if problem and (link.url, problem) not in seen:
            seen.add((link.url, problem))
            problems.append(LinkProblem(link.url, problem))
    return problems


def _problem(link: FoundLink, allowed: set[str], require_tracking: bool, tracked_prefix: str) -> str | None:
    url = link.url.strip()
    if not url:
        return "empty link"
    if url.lower().startswith(_SKIPPED_SCHEMES):
        return None
    if any(c.isspace() for c in url):
        return "contains spaces"
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError as exc:
        return f"malformed: {exc}"
    if not parts.scheme:
        return "not an absolute URL (write it with https://)"
    if parts.scheme.lower() not in ("http", "https"):
        return f"scheme must be http or https, got {parts.scheme!r}"
    if not host or "." not in host.strip("."):
        return "no host name"
    if allowed and not _host_allowed(host, allowed):
        return f"domain {host} is not on the allowed list"
    if require_tracking and link.kind != "src" and not url.startswith(tracked_prefix):
        return "not tracked (does not go through the click redirect)"  # /t/u/ and /t/p/ count as tracked
    return None
