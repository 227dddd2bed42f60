"""Reading CSV, JSON Lines and .xlsx as a stream of rows, and recognising their headers.

Files come from Excel on Chinese Windows (GBK, BOM, semicolons), from exports (JSON Lines) and
from spreadsheets. All are read row by row so memory stays flat however large the file is.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Literal

import orjson

from touchflow.domain.contacts import CONSENT_CHANNELS
from touchflow.domain.normalize import clean_text

__all__ = ["Kind", "MalformedRow", "MappingError", "ReadError", "RowSource", "canonical_field",
           "canonical_headers", "detect_encoding", "detect_format", "mapped_fields", "open_rows",
           "sniff_delimiter"]

Kind = Literal["contacts", "events"]
_SAMPLE = 1 << 18  # bytes looked at to guess the encoding
_CHUNK = 1 << 16  # bytes looked at to guess the delimiter
_HEADER_SCAN_LINES = 1000  # JSON Lines: keys seen in the first lines make up the "header"
_DELIMITERS = (",", ";", "\t")


class ReadError(ValueError):
    """The file cannot be read as rows: missing, unreadable, unsupported format or encoding."""


class MappingError(ValueError):
    """A ``--map FIELD=COLUMN`` names an unknown field or a column the file does not have."""


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


# --- header recognition -------------------------------------------------------------------------

_IDENTITY_ALIASES: dict[str, tuple[str, ...]] = {
    "phone": ("手机", "手机号", "手机号码", "mobile", "phone", "电话", "联系电话", "tel", "telephone",
              "phone number", "mobile phone", "电话号码"),
    "email": ("邮箱", "email", "e-mail", "电子邮件", "电子邮箱", "邮件地址", "mail", "email address"),
    "crm_id": ("客户编号", "crm id", "crm_id", "客户id", "crm", "customer id", "客户代码"),
    "openid": ("openid", "wechat_openid", "微信openid", "公众号openid"),
    "unionid": ("unionid", "wechat_unionid", "微信unionid"),
    "wecom": ("wecom", "企微", "企业微信", "wecom_external_userid", "外部联系人id"),
    "anonymous_id": ("anonymous_id", "anon", "anon_id", "访客id", "匿名id", "visitor id"),
}
_CONTACT_ALIASES: dict[str, tuple[str, ...]] = _IDENTITY_ALIASES | {
    "name": ("姓名", "name", "联系人", "名字", "客户姓名", "full name"),
    "company": ("公司", "公司名称", "company", "企业", "企业名称", "单位", "company name"),
    "industry": ("行业", "industry", "所属行业"),
    "job_title": ("职位", "title", "job title", "job_title", "职务", "position"),
    "city": ("城市", "city", "所在城市"),
    "province": ("省份", "province", "省"),
    "gender": ("性别", "gender", "sex"),
    "age": ("年龄", "age"),
    "tags": ("标签", "tags", "tag"),
    "updated_at": ("更新时间", "updated_at", "最后更新时间", "修改时间", "last updated"),
    "observed_at": ("observed_at",),
    "lifecycle_stage": ("生命周期", "lifecycle_stage", "生命周期阶段", "lifecycle", "客户阶段"),
    "timezone": ("时区", "timezone", "time zone", "tz"),
    "locale": ("语言", "locale", "language"),
    "consent.email": ("邮件订阅", "邮件同意", "email consent", "email opt-in"),
    "consent.sms": ("短信订阅", "短信同意", "sms consent", "sms opt-in"),
    "consent.wechat": ("微信订阅",),
    "consent.wecom": ("企微订阅",),
}
_EVENT_ALIASES: dict[str, tuple[str, ...]] = _IDENTITY_ALIASES | {
    "type": ("事件", "事件类型", "type", "event", "event_type"),
    "occurred_at": ("时间", "发生时间", "事件时间", "occurred_at", "timestamp", "time", "event time"),
    "id": ("id", "event id", "event_id", "事件id", "事件编号"),
    "properties": ("properties", "属性"),
    "contact": ("contact",),
}
_SEPARATORS = re.compile(r"[\s_\-]+")
_CUSTOM_KIND = re.compile(r"x_[a-z0-9_]{1,40}")
_CONSENT = re.compile(r"consent[\s._\-]*([a-z]+)")


def _compact(text: str) -> str:
    return _SEPARATORS.sub("", clean_text(text).casefold())


def _index(aliases: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    return {_compact(alias): field for field, names in aliases.items() for alias in (field, *names)}


_INDEX: dict[str, dict[str, str]] = {"contacts": _index(_CONTACT_ALIASES), "events": _index(_EVENT_ALIASES)}
_PREFIX = {"contacts": "custom.", "events": "properties."}


def _recognise(header: str, kind: Kind) -> str | None:
    """The canonical field a header names, or ``None`` when it is not one we know."""
    text = clean_text(header)
    lowered = text.casefold()
    prefix = _PREFIX[kind]
    if lowered.startswith(prefix) and len(text) > len(prefix):
        return prefix + text[len(prefix):].strip()
    if _CUSTOM_KIND.fullmatch(lowered):
        return lowered
    consent = _CONSENT.fullmatch(lowered)
    if kind == "contacts" and consent and consent.group(1) in CONSENT_CHANNELS:
        return f"consent.{consent.group(1)}"
    return _INDEX[kind].get(_compact(text))


def canonical_field(header: str, kind: Kind, taken: Iterable[str] = ()) -> str:
    """Where a column goes: a recognised field, else a custom attribute (contacts) or a property (events).

    A recognised field in ``taken`` (mapped explicitly to another column) falls back the same way.
    """
    field = _recognise(header, kind)
    if field is not None and field not in taken:
        return field
    return _PREFIX[kind] + clean_text(header)


def _mapped_field(field: str, column: str, kind: Kind) -> str:
    field_name = _recognise(field, kind)
    if field_name is None:
        known = sorted({f for f in _INDEX[kind].values() if not f.startswith("consent.")})
        extra = "custom.<name>, consent.<channel>" if kind == "contacts" else "properties.<name>"
        raise MappingError(f"--map {field}={column}: unknown field {field!r}; known fields: "
                           f"{', '.join(known)}, {extra}")
    return field_name


def _mapped_header(field: str, column: str, headers: Sequence[str]) -> str:
    if column in headers:
        return column
    wanted = clean_text(column).casefold()
    for header in headers:
        if clean_text(header).casefold() == wanted:
            return header
    raise MappingError(f"--map {field}={column}: column {column!r} is not in the file's header; "
                       f"the columns are: {', '.join(headers) if headers else '(none)'}")


def mapped_fields(kind: Kind, mapping: Mapping[str, str] | None) -> frozenset[str]:
    """The canonical fields a mapping sets explicitly (other columns no longer fill them)."""
    return frozenset(_mapped_field(field, column, kind) for field, column in (mapping or {}).items())


def canonical_headers(headers: Sequence[str], kind: Kind,
                      mapping: Mapping[str, str] | None = None) -> dict[str, str]:
    """File header -> canonical field, ``mapping`` (FIELD -> COLUMN) first; ``MappingError`` if it is bad."""
    result: dict[str, str] = {}
    for field, column in (mapping or {}).items():
        header = _mapped_header(field, column, headers)
        if header in result:
            raise MappingError(f"--map {field}={column}: column {column!r} is already mapped to "
                               f"{result[header]!r}")
        result[header] = _mapped_field(field, column, kind)
    taken = set(result.values())
    for header in headers:
        if header not in result:
            result[header] = canonical_field(header, kind, taken)
    return result
