"""The one CSV writer for every file a person opens in a spreadsheet (rejects, exports, maps, reports).

A cell that starts with ``= + - @``, a tab or a carriage return is a formula to Excel, WPS and LibreOffice
(CSV/formula injection: ``=HYPERLINK(...)``, ``@SUM(...)``, ``-2+3+cmd|' /C calc'!A0``). Such cells get a
leading apostrophe, which spreadsheets show as text and hide. Files read back by Touchflow itself (sample
data, test fixtures) are data, not reports, and do not need this.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

__all__ = ["CsvSink", "neutralise", "write_rows"]

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class CsvSink(Protocol):
    def write(self, text: str, /) -> Any: ...


def neutralise(cell: object) -> str:
    """The cell as text, with an apostrophe in front when a spreadsheet would run it as a formula."""
    text = "" if cell is None else str(cell)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def write_rows(out: CsvSink, rows: Iterable[Sequence[object]], *, lineterminator: str = "\r\n") -> None:
    """Write ``rows`` (header included, if any) to ``out`` with every cell neutralised."""
    writer = csv.writer(out, lineterminator=lineterminator)
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
