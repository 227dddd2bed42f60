"""Reading CSV, JSON Lines and .xlsx as a stream of rows, and recognising their headers.

Files come from Excel on Chinese Windows (GBK, BOM, semicolons), from exports (JSON Lines) and
from spreadsheets. All are read row by row so memory stays flat however large the file is.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import orjson

from touchflow.engine.headers import (
    Kind,
    MappingError,
    canonical_field,
    canonical_headers,
    mapped_fields,
)

__all__ = ["Kind", "MalformedRow", "MappingError", "ReadError", "RowSource", "canonical_field",
           "canonical_headers", "detect_encoding", "detect_format", "mapped_fields", "open_rows",
           "sniff_delimiter"]

_SAMPLE = 1 << 18  # bytes looked at to guess the encoding
_CHUNK = 1 << 16  # bytes looked at to guess the delimiter
_HEADER_SCAN_LINES = 1000  # JSON Lines: keys seen in the first lines make up the "header"
_DELIMITERS = (",", ";", "\t")


class ReadError(ValueError):
    """The file cannot be read as rows: missing, unreadable, unsupported format or encoding."""




class MalformedRow(dict[str, object]):
    """A row that could not be split into the header's columns; it goes to the reject file as it was."""

    def __init__(self, values: Mapping[str, object], reason: str, raw: str | None = None) -> None:
        super().__init__(values)
        self.reason = reason
        self.raw = raw  # the line as text, where the format has lines (JSON Lines)


class RowSource:
    """Rows of one open file: ``headers``, iteration of ``(row_number, {header: value})``, progress."""

    format = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.total_bytes = path.stat().st_size
        self.headers: list[str] = []

    def __iter__(self) -> Iterator[tuple[int, dict[str, object]]]:
        raise NotImplementedError

    def bytes_read(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def detect_encoding(sample: bytes, final: bool = True) -> str:
    """UTF-8 (with or without BOM) when the sample decodes as such, else GB18030 (a superset of GBK)."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            for start in range(0, len(sample), _CHUNK):  # in slices: the decoded text is never whole
                decoder.decode(sample[start:start + _CHUNK])
            decoder.decode(b"", final=final)
        except UnicodeDecodeError:
            continue
        return encoding
    raise ReadError("the file is neither UTF-8 nor GBK/GB18030 text; save it as UTF-8 CSV")


def sniff_delimiter(text: str, truncated: bool = False) -> str:
    """The delimiter (, ; or tab) that splits the header into most columns and the rows alike."""
    best, best_score = ",", (False, 1)
    for delimiter in _DELIMITERS:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = list(itertools.islice((r for r in reader if any(r)), 50))
        if truncated and len(rows) > 1:
            rows = rows[:-1]  # the sample may end inside a row
        if not rows:
            continue
        width = len(rows[0])
        consistent = sum(len(r) == width for r in rows) >= 0.8 * len(rows)
        score = (consistent and width > 1, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _unique_headers(cells: Iterable[object]) -> list[str]:
    """Headers as written (trimmed); a blank one becomes ``column N``, a repeat gets `` (2)``."""
    names = ["" if cell is None else str(cell).strip().lstrip("\ufeff") for cell in cells]
    while names and not names[-1]:
        names.pop()  # spreadsheets pad rows with empty cells
    headers: list[str] = []
    for index, name in enumerate(names, start=1):
        name = name or f"column {index}"
        candidate, n = name, 1
        while candidate in headers:
            n += 1
            candidate = f"{name} ({n})"
        headers.append(candidate)
    return headers


def _split(headers: list[str], cells: Sequence[object]) -> dict[str, object]:
    """Cells to ``{header: value}``; non-blank cells beyond the header make the row malformed."""
    width = len(headers)
    values: dict[str, object] = dict(zip(headers, cells, strict=False))
    extra = cells[width:]
    if any(c is not None and str(c).strip() for c in extra):
        values.update({f"column {width + i + 1}": c for i, c in enumerate(extra)})
        return MalformedRow(values, f"row has {len(cells)} values but the header has {width} columns")
    return values


class _CsvRows(RowSource):
    format = "csv"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._fh = path.open("rb")
        try:
            sample = self._fh.read(_SAMPLE)
            self.encoding = detect_encoding(sample, final=len(sample) < _SAMPLE)
            truncated = len(sample) > _CHUNK
            head = codecs.getincrementaldecoder(self.encoding)().decode(sample[:_CHUNK], final=not truncated)
            del sample
            self.delimiter = sniff_delimiter(head, truncated)
            self._fh.seek(0)
            self._text = io.TextIOWrapper(self._fh, encoding=self.encoding, newline="")
            self._reader = csv.reader(self._text, delimiter=self.delimiter)
            self.headers = _unique_headers(next(self._reader, []))
        except (UnicodeDecodeError, csv.Error) as exc:
            self._fh.close()
            raise ReadError(f"{path}: cannot read the header: {exc}") from exc
        except BaseException:
            self._fh.close()
            raise

    def __iter__(self) -> Iterator[tuple[int, dict[str, object]]]:
        number = 1  # the header is row 1
        try:
            for cells in self._reader:
                number += 1
                if any(c.strip() for c in cells):
                    yield number, _split(self.headers, cells)
        except UnicodeDecodeError as exc:
            raise ReadError(f"{self.path}: not valid {self.encoding} text after row {number}; "
                            "save the file as UTF-8") from exc
        except csv.Error as exc:
            raise ReadError(f"{self.path}: CSV error after row {number}: {exc}") from exc

    def bytes_read(self) -> int:
        return self.total_bytes if self._fh.closed else self._fh.tell()

    def close(self) -> None:
        self._text.close()


def _parse_line(line: bytes) -> object:
    return orjson.loads(line.removeprefix(codecs.BOM_UTF8))


class _JsonLinesRows(RowSource):
    format = "jsonl"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._fh = path.open("rb")
        seen: dict[str, None] = {}
        for index, line in enumerate(self._fh):
            if index >= _HEADER_SCAN_LINES:
                break
            try:
                parsed = _parse_line(line) if line.strip() else None
            except orjson.JSONDecodeError:
                continue
            if isinstance(parsed, dict):
                seen.update(dict.fromkeys(parsed))
        self._fh.seek(0)
        self.headers = list(seen)

    def __iter__(self) -> Iterator[tuple[int, dict[str, object]]]:
        for number, line in enumerate(self._fh, start=1):
            if not line.strip():
                continue
            text = line.removeprefix(codecs.BOM_UTF8).decode("utf-8", "replace").rstrip("\r\n")
            try:
                parsed: Any = _parse_line(line)
            except orjson.JSONDecodeError as exc:
                yield number, MalformedRow({}, f"not valid JSON: {exc}", text)
                continue
            if not isinstance(parsed, dict):
                yield number, MalformedRow({}, "a JSON Lines row must be an object", text)
                continue
            yield number, parsed

    def bytes_read(self) -> int:
        return self.total_bytes if self._fh.closed else self._fh.tell()

    def close(self) -> None:
        self._fh.close()


def _cell(value: object) -> object:
    """Spreadsheet values as the rest of the import expects them: text, whole numbers as int."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


class _XlsxRows(RowSource):
    format = "xlsx"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        import openpyxl  # imported here: it is slow to import and only .xlsx needs it
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # openpyxl warns about styles it does not read
                self._book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, KeyError) as exc:
            raise ReadError(f"{path}: not a readable .xlsx workbook ({exc})") from exc
        sheet = self._book.worksheets[0]
        try:
            self._max_row: int | None = int(sheet.max_row) if sheet.max_row else None
        except (TypeError, ValueError):
            self._max_row = None
        self._rows: Iterator[tuple[object, ...]] = iter(sheet.iter_rows(values_only=True))
        self._number = 0
        self._done = False
        for cells in self._rows:
            self._number += 1
            if any(c is not None and str(c).strip() for c in cells):
                self.headers = _unique_headers(cells)
                break

    def __iter__(self) -> Iterator[tuple[int, dict[str, object]]]:
        for cells in self._rows:
            self._number += 1
            row = [_cell(c) for c in cells]
            if any(c is not None and str(c).strip() for c in row):
                yield self._number, _split(self.headers, row)
        self._done = True

    def bytes_read(self) -> int:
        """An estimate: the workbook is compressed, so progress is rows read over the sheet's rows."""
        if self._done or not self._max_row:
            return self.total_bytes if self._done else 0
        return min(self.total_bytes, self.total_bytes * self._number // self._max_row)

    def close(self) -> None:
        self._book.close()


_READERS: dict[str, type[RowSource]] = {"csv": _CsvRows, "jsonl": _JsonLinesRows, "xlsx": _XlsxRows}
_EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
               ".xlsx": "xlsx", ".xlsm": "xlsx"}
_OLD_EXCEL = "old .xls workbooks are not supported; save the sheet as .xlsx or CSV"


def detect_format(path: Path) -> str:
    """``csv``, ``jsonl`` or ``xlsx``: by extension, else by looking at the first bytes."""
    extension = path.suffix.lower()
    if extension in _EXTENSIONS:
        return _EXTENSIONS[extension]
    if extension == ".xls":
        raise ReadError(f"{path}: {_OLD_EXCEL}")
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ReadError(f"{path}: {_OLD_EXCEL}")
    stripped = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if stripped.startswith(b"{"):
        return "jsonl"
    if stripped.startswith(b"["):
        raise ReadError(f"{path}: a JSON array cannot be streamed; use JSON Lines (one object per line)")
    if b"\x00" in head:
        raise ReadError(f"{path}: unsupported format (use CSV, JSON Lines or .xlsx)")
    return "csv"


@contextmanager
def open_rows(path: Path) -> Iterator[RowSource]:
    """The rows of a CSV, JSON Lines or .xlsx file, read as a stream; ``ReadError`` when it cannot be."""
    path = Path(path)
    if not path.exists():
        raise ReadError(f"file not found: {path}")
    if not path.is_file():
        raise ReadError(f"not a file: {path}")
    try:
        source = _READERS[detect_format(path)](path)
    except OSError as exc:
        raise ReadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        yield source
    finally:
        source.close()
