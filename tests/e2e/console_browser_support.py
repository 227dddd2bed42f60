"""Browser tests of the console in Debian's Chromium: only this server may be reached, CSP violations and
script errors fail the test, axe-core (vendored, loaded from the console's own /static) checks each page, and
with TOUCHFLOW_WRITE_DOCS=1 screenshots go into the Chinese manual (docs/manual/zh-CN/images/)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
MANUAL_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "manual" / "zh-CN" / "images"
AXE = "/static/vendor/axe-core/axe.min.js"

needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and os.environ.get("TOUCHFLOW_REQUIRE_BROWSER") != "1",
    reason=f"browser test skipped: no Chromium at {CHROMIUM} (apt-get install chromium)")


@dataclass
class Watch:
    """What the page did that it must not: reach another host, log an error (a CSP refusal logs one)."""

    base: str
    outside: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        def only_this_server(route: Any) -> None:
            if route.request.url.startswith(self.base):
                route.continue_()
            else:
                self.outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_this_server)
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.problems.append(str(e)))


def axe_violations(page: Any) -> list[str]:
    """Serious and critical axe-core violations of the page as it is now (WCAG 2.1 A and AA rules)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE)  # from this server: the page's CSP allows 'self' scripts only
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a',
                                                                                 'wcag21aa']}});
        return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ': ' + v.help + ' — ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
    }""")
    return list(found)


def screenshot(page: Any, name: str) -> None:
    """Into the manual, only when asked (a normal run leaves the tree clean)."""
    if os.environ.get("TOUCHFLOW_WRITE_DOCS") == "1":
        MANUAL_IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(MANUAL_IMAGES / name), full_page=True)
