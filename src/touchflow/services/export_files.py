"""Export files: CSV (formula-safe, UTF-8 with BOM for Excel/WPS), XLSX and JSON, each watermarked with the
approval request's id — an ``export_id`` column or field in every row, the file name, and the format's own
metadata where it has some (XLSX document properties and a header comment; a JSON ``export`` header) — so a
file found outside tells whose request, approved by whom, it came from."""

from __future__ import annotations

import io
import json
import re
import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from touchflow.domain.csv_cells import neutralise, write_rows
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.approvals import ApprovalRequest

__all__ = ["DEFAULT_FIELDS", "EXPORT_FIELDS", "FORMATS", "WATERMARK_COLUMN", "check_fields", "export_name", "render"]

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}
EXPORT_FIELDS = ("id", "name", "email", "phone", "gender", "age", "city", "province", "industry", "company",
                 "job_title", "timezone", "locale", "lifecycle_stage", "tags", "created_at")
DEFAULT_FIELDS = ("id", "name", "email", "phone", "company", "city", "lifecycle_stage", "tags")
WATERMARK_COLUMN = "export_id"
_CUSTOM = re.compile(r"custom\.[A-Za-z0-9_\-]{1,64}")


def check_fields(fields: Sequence[str]) -> list[str]:
    """The fields, in order and without repeats; an unknown one is refused by name."""
    clean: list[str] = []
    for raw in fields:
        name = raw.strip()
        if name not in EXPORT_FIELDS and not _CUSTOM.fullmatch(name):
            raise FieldError("fields", f"unknown field {name!r}: {', '.join(EXPORT_FIELDS)} or custom.<name>")
        if name not in clean:
            clean.append(name)
    if not clean:
        raise FieldError("fields", "name at least one field")
    if len(clean) > 60:
        raise FieldError("fields", "at most 60 fields")
    return clean


def export_name(request_id: str, fmt: str) -> str:
    return f"touchflow-export-{request_id}.{fmt}"


def _watermark(request: ApprovalRequest, now: datetime) -> str:
    return (f"Touchflow export {request.id}: requested by {request.requested_by_label}, approved by "
            f"{request.decided_by_label}, produced {now.isoformat()}. Personal data: do not forward.")


def _cell(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float | bool) else str(value)


def render(request: ApprovalRequest, rows: Sequence[dict[str, Any]], fields: Sequence[str], fmt: str,
           now: datetime) -> tuple[bytes, str]:
    """(file bytes, media type)."""
    header = [WATERMARK_COLUMN, *fields]
    table = [[request.id, *(_cell(row.get(f)) for f in fields)] for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        write_rows(out, [header, *table])
        return ("\ufeff" + out.getvalue()).encode("utf-8"), FORMATS["csv"]
    if fmt == "json":
        document = {"export": {"id": request.id, "watermark": _watermark(request, now),
                               "requested_by": request.requested_by_label, "approved_by": request.decided_by_label,
                               "produced_at": now.isoformat(), "fields": list(fields), "rows": len(table)},
                    "rows": [dict(zip(header, values, strict=True)) for values in table]}
        return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8"), FORMATS["json"]
    if fmt == "xlsx":
        return _xlsx(request, header, table, now), FORMATS["xlsx"]
    raise FieldError("format", f"one of {', '.join(FORMATS)}")


def _xlsx(request: ApprovalRequest, header: list[str], table: list[list[Any]], now: datetime) -> bytes:
    import openpyxl  # imported here: slow to import, and only XLSX exports need it
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.comments import Comment

    book = openpyxl.Workbook(write_only=True)
    mark = _watermark(request, now)
    book.properties.title = f"Touchflow export {request.id}"
    book.properties.subject = "personal data export"
    book.properties.keywords = f"touchflow-export {request.id}"
    book.properties.description = mark
    book.properties.creator = "Touchflow"
    sheet = book.create_sheet("export")
    first = WriteOnlyCell(sheet, value=header[0])
    first.comment = Comment(mark, "Touchflow")
    sheet.append([first, *header[1:]])
    for values in table:  # strings neutralised: a cell starting with = would be a formula in the workbook too
        sheet.append([neutralise(v) if isinstance(v, str) else v for v in values])
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        book.save(out)
    return out.getvalue()
