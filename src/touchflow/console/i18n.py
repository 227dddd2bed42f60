"""Message catalogs (Babel) and locale formats for the console.

Catalogs are the ``.po`` files under ``locale/``, compiled in memory the first time a language is asked for
(ADR 0037: no binary ``.mo`` in git to drift from its source, no build step; a few milliseconds once per
process). Message ids are English; zh-CN is the default language and its catalog must translate every id
(tests/unit/test_console_catalog.py). English shows the ids themselves where its catalog leaves them empty.
"""

from __future__ import annotations

import io
from datetime import datetime
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

__all__ = [
    "DEFAULT_LOCALE",
    "N_",
    "babel_locale",
    "format_day",
    "format_number",
    "format_ratio",
    "format_when",
    "translations",
]

DEFAULT_LOCALE = "zh-CN"
_FOLDERS = {"zh-CN": "zh_CN", "en": "en"}


def N_(message: str) -> str:
    """Mark a message id for the catalog without translating it here: templates translate it when rendering
    (page titles, menu labels). Babel extracts ``N_`` like ``_``."""
    return message


@cache
def babel_locale(locale: str) -> Locale:
    """Parsed once per language: ``Locale.parse`` costs more than the formatting it serves (measured)."""
    return Locale.parse(_FOLDERS.get(locale, "zh_CN"))


@cache
def translations(locale: str) -> Translations:
    """The compiled catalog of ``locale`` (zh-CN for anything unknown)."""
    folder = _FOLDERS.get(locale, _FOLDERS[DEFAULT_LOCALE])
    source = resources.files("touchflow.console") / "locale" / folder / "LC_MESSAGES" / "messages.po"
    with source.open("rb") as handle:
        catalog = read_po(handle, locale=folder)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def format_number(value: float | int | None, locale: str, digits: int = 0) -> str:
    if value is None:
        return "—"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=babel_locale(locale))


def format_ratio(value: float | None, locale: str) -> str:
    """A rate (0.123) as a percentage in the locale's format: 12.3%."""
    if value is None:
        return "—"
    return format_percent(value, format="#,##0.0%", locale=babel_locale(locale))


def format_when(moment: datetime | None, locale: str, zone: str) -> str:
    """A moment in the reader's zone, labelled with it: 2026年3月2日 09:00 (Asia/Shanghai)."""
    if moment is None:
        return "—"
    local = moment.astimezone(ZoneInfo(zone))
    return f"{format_datetime(local, format='medium', locale=babel_locale(locale), tzinfo=ZoneInfo(zone))} ({zone})"


def format_day(moment: datetime, locale: str, zone: str) -> str:
    return format_date(moment.astimezone(ZoneInfo(zone)), format="medium", locale=babel_locale(locale))
