"""Every user-visible string of the console goes through the catalog (issue 15: a template string that is not in
the catalog fails the build). Three checks: Babel's extraction (templates and Python, ``_`` and ``N_``) finds
only ids both catalogs hold; zh-CN translates every one; no template shows literal text outside ``_()``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from touchflow.console.templating import environment

CONSOLE = Path(__file__).resolve().parents[2] / "src" / "touchflow" / "console"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                    "lstrip_blocks": "true"}}
# Words shown as they are in every language: the product's name, and each language's name in itself.
UNTRANSLATED = {"Touchflow", "English", "中文", "简体中文"}
_TAG = re.compile(r"<[^>]*>", re.DOTALL)
_VISIBLE_ATTRIBUTE = re.compile(r'\b(title|placeholder|aria-label|alt|label)="([^"]*)"')
_WORDS = re.compile(r"[A-Za-z\u4e00-\u9fff]{2,}")


def _extracted() -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(CONSOLE), METHODS, OPTIONS, KEYWORDS):  # type: ignore[arg-type]
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(folder: str) -> dict[str, str]:
    with (CONSOLE / "locale" / folder / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    return {str(m.id): str(m.string) for m in catalog if m.id and not m.fuzzy}


def test_extraction_finds_the_pages_messages() -> None:
    found = _extracted()
    assert {"Sign in", "Dashboard", "Your session has ended. Sign in again to continue."} <= found


@pytest.mark.parametrize("folder", ["zh_CN", "en"])
def test_every_message_is_in_the_catalog(folder: str) -> None:
    missing = sorted(_extracted() - set(_catalog(folder)))
    assert not missing, f"{folder} lacks {missing}: run scripts/update_console_catalogs.sh and translate"


def test_zh_cn_translates_every_message_keeping_its_placeholders() -> None:
    catalog = _catalog("zh_CN")
    assert catalog
    empty = sorted(k for k, v in catalog.items() if not v.strip())
    assert not empty, f"zh_CN has no translation for {empty}"
    for msgid, text in catalog.items():
        assert sorted(re.findall(r"%\(\w+\)s", msgid)) == sorted(re.findall(r"%\(\w+\)s", text)), msgid


def _visible_text(name: str) -> list[str]:
    env = environment()
    source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
    text = "".join(value if kind == "data" else "\x00" for _, kind, value in env.lex(source))
    shown = [value for _, value in _VISIBLE_ATTRIBUTE.findall(text)]
    body = re.sub(r"<(script|style)\b.*?</\1>", "", text, flags=re.DOTALL)
    shown += _TAG.sub(" ", body).split("\x00")
    return [w for chunk in shown for w in _WORDS.findall(chunk) if w not in UNTRANSLATED]


def test_no_template_shows_text_outside_the_catalog() -> None:
    env = environment()
    names = env.list_templates(extensions=["html"])
    assert "base.html" in names and "login.html" in names
    loose = {name: words for name in names if (words := _visible_text(name))}
    assert not loose, f"wrap these in _(…): {loose}"


def test_the_check_catches_a_loose_string(tmp_path: Path) -> None:
    env = environment()
    source = '<p title="Hello">{{ _("Fine") }} Unwrapped words</p>'
    text = "".join(value if kind == "data" else "\x00" for _, kind, value in env.lex(source))
    assert _VISIBLE_ATTRIBUTE.findall(text) == [("title", "Hello")]
    assert _WORDS.findall(_TAG.sub(" ", text)) == ["Unwrapped", "words"]
