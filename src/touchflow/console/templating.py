"""Jinja2 for the console: autoescaped templates, the i18n extension, locale-aware filters.

One environment per process. The language is per request, so the gettext callables read the catalog from the
render context (``_translations``) rather than being installed globally; the filters read the reader's
preferences the same way. Templates only format what views hand them: no queries, no decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from touchflow.console.auth import ConsoleUser
from touchflow.console.errors import problem_of
from touchflow.console.i18n import format_day, format_number, format_ratio, format_when, translations
from touchflow.console.nav import nav_for
from touchflow.domain.governance.permissions import ROLE_NAMES, role
from touchflow.domain.governance.preferences import Preferences

__all__ = ["CSP", "environment", "render"]

# Scripts and styles from this server only; vega runs with its expression interpreter (no eval); htmx's
# indicator styles are off (htmx-config meta) so no inline <style> is injected; Tabler's components set a few
# inline styles (style-src 'unsafe-inline'); charts may be exported as data: images.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def _prefs(context: Context) -> Preferences:
    found = context.get("prefs")
    return found if isinstance(found, Preferences) else Preferences()


@pass_context
def _gettext(context: Context, message: str) -> str:
    return str(context["_translations"].gettext(message))


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return str(context["_translations"].ngettext(singular, plural, n))


@pass_context
def _number(context: Context, value: float | int | None, digits: int = 0) -> str:
    return format_number(value, _prefs(context).locale, digits)


@pass_context
def _ratio(context: Context, value: float | None) -> str:
    return format_ratio(value, _prefs(context).locale)


@pass_context
def _when(context: Context, value: datetime | None) -> str:
    prefs = _prefs(context)
    return format_when(value, prefs.locale, prefs.time_zone)


@pass_context
def _day(context: Context, value: datetime) -> str:
    prefs = _prefs(context)
    return format_day(value, prefs.locale, prefs.time_zone)


def _json_script(value: object) -> Markup:
    """JSON for a ``<script type="application/json">`` block: ``<``, ``>`` and ``&`` escaped, so no ``</script>``."""
    text = orjson.dumps(value).decode()
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


@cache
def environment() -> Environment:
    env = Environment(loader=PackageLoader("touchflow.console", "templates"),
                      autoescape=select_autoescape(["html"], default=True),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(number=_number, ratio=_ratio, when=_when, day=_day, json_script=_json_script)
    return env


def _role_title(user: ConsoleUser | None, prefs: Preferences) -> str:
    if user is None or user.principal.role not in ROLE_NAMES:
        return ""
    titles = role(user.principal.role)
    return titles.zh if prefs.locale == "zh-CN" else titles.en


def render(request: Request, user: ConsoleUser | None, template: str, context: Mapping[str, Any], *,
           status_code: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """``template`` for ``user`` (None: someone not signed in, in the default language)."""
    prefs = user.preferences if user is not None else Preferences()
    values = {"request": request, "me": user, "prefs": prefs, "_translations": translations(prefs.locale),
              "nav": nav_for(user.principal) if user is not None else [], "path": request.url.path,
              "csrf_token": user.csrf_token if user is not None else "", "role_title": _role_title(user, prefs),
              **context}
    if isinstance(values.get("field_error"), Exception) and not values.get("problem"):
        values["problem"] = problem_of(values["field_error"])  # shown through the catalogs (_problem.html)
    body = environment().get_template(template).render(values)
    return HTMLResponse(body, status_code=status_code,
                        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store",
                                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
                                 **(headers or {})})
