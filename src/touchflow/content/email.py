"""Composing one email: Liquid → (MJML →) HTML with inlined CSS, a plain-text part, and tracking.

Order matters: Liquid runs first so that MJML sees finished markup; the unsubscribe footer is added when
the template does not place ``{{ unsubscribe_url }}`` itself (G6: every marketing email can be left);
links are rewritten after CSS inlining so the inliner never sees tokens; the open pixel comes last and
is left out of the text part.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Literal

import css_inline
import mjml

from touchflow.content.links import Tracking, rewrite_links
from touchflow.content.templates import ContentRenderer, PlainContext, TemplateError

__all__ = ["Layout", "RenderedEmail", "compose_email", "html_to_text"]

Layout = Literal["mjml", "html", "text"]
LAYOUTS: tuple[Layout, ...] = ("mjml", "html", "text")

_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)
_FOOTER_STYLE = "font-size:12px;color:#888888;text-align:center;margin:24px 0 8px"


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str | None
    text: str


def compose_email(subject: str, body: str, *, layout: Layout, context: Mapping[str, Any],
                  renderer: ContentRenderer, tracking: Tracking | None = None, text_body: str | None = None,
                  name: str = "template") -> RenderedEmail:
    """One recipient's email. ``text_body`` (optional) replaces the text part derived from the HTML.

    Raises ``TemplateError`` for Liquid problems and for MJML that does not compile.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout: must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    values = PlainContext(context) if isinstance(context, PlainContext) else dict(context)
    if tracking is not None:
        values["unsubscribe_url"] = tracking.unsubscribe_url()
        values["preferences_url"] = tracking.preferences_url()
    # A subject is one header line: newlines in data must not start a second header.
    subject_text = " ".join(renderer.render(subject, values, name=f"{name}:subject").split())
    needs_footer = tracking is not None and "unsubscribe_url" not in renderer.variables(body, name)
    if layout == "text":
        text = renderer.render(body, values, name=name)
        if tracking is not None:
            text = rewrite_links(text, tracking, is_html=False)
            if needs_footer:
                text = text.rstrip() + "\n\n" + _text_footer(tracking)
        return RenderedEmail(subject_text, None, text)
    markup = renderer.render(body, values, name=name, html=True)
    if layout == "mjml":
        markup = mjml_to_html(markup, name)
    if tracking is not None and needs_footer:
        markup = _insert_before_body_end(markup, _html_footer(tracking))
    markup = _INLINER.inline(markup)
    if tracking is not None:
        markup = rewrite_links(markup, tracking)
    if text_body is not None:
        text = renderer.render(text_body, values, name=f"{name}:text")
        if tracking is not None:
            text = rewrite_links(text, tracking, is_html=False)
            if needs_footer and "unsubscribe_url" not in renderer.variables(text_body, name):
                text = text.rstrip() + "\n\n" + _text_footer(tracking)
    else:
        text = html_to_text(markup)
    if tracking is not None:
        pixel = (f'<img src="{html_lib.escape(tracking.open_pixel_url())}" width="1" height="1" alt="" '
                 'style="display:block;border:0;width:1px;height:1px">')
        markup = _insert_before_body_end(markup, pixel)
    return RenderedEmail(subject_text, markup, text)


def mjml_to_html(markup: str, name: str = "template") -> str:
    """MJML compiled to responsive HTML; no web fonts are fetched or linked (mail clients block them)."""
    if "<mjml" not in markup:
        raise TemplateError(name, None, "layout mjml: the body must be an <mjml> document")
    try:
        return str(mjml.mjml2html(markup, fonts={}))
    except ValueError as exc:
        raise TemplateError(name, None, f"MJML does not compile: {exc}") from None


_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def _insert_before_body_end(markup: str, snippet: str) -> str:
    matches = list(_BODY_END.finditer(markup))
    if not matches:
        return markup + snippet
    at = matches[-1].start()
    return markup[:at] + snippet + markup[at:]


def _html_footer(tracking: Tracking) -> str:
    unsubscribe = html_lib.escape(tracking.unsubscribe_url())
    preferences = html_lib.escape(tracking.preferences_url())
    return (f'<p style="{_FOOTER_STYLE}">不想再收到此类邮件？<a href="{unsubscribe}">退订 Unsubscribe</a>'
            f' · <a href="{preferences}">订阅偏好 Preferences</a></p>')


def _text_footer(tracking: Tracking) -> str:
    return (f"退订 Unsubscribe: {tracking.unsubscribe_url()}\n"
            f"订阅偏好 Preferences: {tracking.preferences_url()}\n")


# --- HTML → text ------------------------------------------------------------------------------------

_BLOCKS = frozenset({"p", "div", "br", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section",
                     "article", "header", "footer", "ul", "ol", "blockquote", "hr"})
_HIDDEN = frozenset({"head", "style", "script", "title", "noscript"})


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0
        self._links: list[tuple[str | None, int]] = []  # (href, index of the first part inside the <a>)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "a":
            self._links.append((dict(attrs).get("href"), len(self.parts)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "a" and self._links:
            href, start = self._links.pop()
            label = " ".join("".join(self.parts[start:]).split())
            if href and href.lower().startswith(("http://", "https://", "mailto:")):
                target = href.removeprefix("mailto:")
                self.parts[start:] = [f"{label} ({target})" if label and label != target else target]

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(re.sub(r"[ \t\r\f\v\n]+", " ", data))


def html_to_text(markup: str) -> str:
    """A readable text part: blocks become lines, links become ``label (url)``, styles and images vanish."""
    parser = _TextParser()
    parser.feed(markup)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
