"""The CJK font both renderers need, found and registered by name.

vl-convert (charts) and WeasyPrint (PDF) fall back to fonts without Chinese glyphs, which draws every Chinese
character as a box (tofu). Both get Noto Sans CJK SC from Debian's ``fonts-noto-cjk`` by its family name:
vl-convert through ``register_font_directory``, WeasyPrint through an ``@font-face`` rule naming the file (and
fontconfig, which finds the same file). Without the font we stop with a message saying what to install.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FAMILY", "CjkFont", "FontMissing", "find_cjk_font", "register_for_charts"]

FAMILY = "Noto Sans CJK SC"
_DIRS = ("/usr/share/fonts/opentype/noto", "/usr/share/fonts/noto-cjk", "/usr/share/fonts/google-noto-cjk",
         "/usr/local/share/fonts")
_registered: set[str] = set()
_lock = threading.Lock()


class FontMissing(RuntimeError):
    """No CJK font: Chinese reports would render as empty boxes."""


@dataclass(frozen=True)
class CjkFont:
    directory: Path
    regular: Path
    bold: Path | None

    def css(self) -> str:
        """@font-face rules by name only: what a page served to a browser can use (it may not read local files)."""
        return self._rules(with_files=False)

    def print_css(self) -> str:
        """@font-face rules naming the files too, so WeasyPrint never falls back to a font without Chinese."""
        return self._rules(with_files=True)

    def _rules(self, *, with_files: bool) -> str:
        faces = [(400, f"{FAMILY}", self.regular)]
        if self.bold is not None:
            faces.append((700, f"{FAMILY} Bold", self.bold))
        return "\n".join(
            f'@font-face {{ font-family: "{FAMILY}"; font-weight: {weight}; src: local("{name}")'
            + (f', url("{path.as_uri()}")' if with_files else "") + "; }"
            for weight, name, path in faces)


def find_cjk_font(search: tuple[str, ...] | None = None) -> CjkFont:
    """Noto Sans CJK in ``TOUCHFLOW_CJK_FONT_DIR`` or the usual system folders; ``FontMissing`` otherwise."""
    override = os.environ.get("TOUCHFLOW_CJK_FONT_DIR")
    folders = search if search is not None else ((override,) if override else ()) + _DIRS
    for folder in folders:
        directory = Path(folder)
        for regular_name in ("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "NotoSansSC-Regular.otf"):
            regular = directory / regular_name
            if regular.is_file():
                bold = directory / regular_name.replace("Regular", "Bold")
                return CjkFont(directory, regular, bold if bold.is_file() else None)
    raise FontMissing(
        "no CJK font found for Chinese reports (looked in " + ", ".join(folders) + "): install Debian's "
        "fonts-noto-cjk (apt-get install fonts-noto-cjk) or point TOUCHFLOW_CJK_FONT_DIR at a folder holding "
        "NotoSansCJK-Regular.ttc")


def register_for_charts(font: CjkFont) -> None:
    """Make the font known to vl-convert by name (once per process)."""
    key = str(font.directory)
    with _lock:
        if key in _registered:
            return
        import vl_convert

        vl_convert.register_font_directory(key)
        _registered.add(key)
