"""``touchflow demo`` end to end: sample data, four imports, a summary; a second run creates nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from touchflow.cli import app
from touchflow.demo.sample_data import FILES

_RUN = re.compile(r"This run: ([\d,]+) new contacts, ([\d,]+) new events, ([\d,]+) merges")
_STORE = re.compile(r"Contacts in the store: ([\d,]+)")


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _demo(runner: CliRunner, directory: Path) -> str:
    result = runner.invoke(app, ["demo", "--dir", str(directory), "--contacts", "300"])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # Rich wraps lines to the terminal width


def test_demo_imports_everything_and_a_second_run_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOUCHFLOW_DATABASE_URL", raising=False)  # the demo's own ./touchflow.db
    runner = CliRunner()

    first = _demo(runner, tmp_path)
    assert (tmp_path / "touchflow.db").is_file()
    for name in FILES.values():
        assert (tmp_path / "sample-data" / name).is_file()
    run = _RUN.search(first)
    store = _STORE.search(first)
    assert run and store, first
    contacts, events, merges = (_number(g) for g in run.groups())
    assert contacts > 300 and events > 900 and merges > 0
    assert _number(store[1]) > 300
    assert "Rejected rows" in first and "no usable identifier" in first
    assert "Field completeness" in first and "Sources" in first
    connector = re.search(r"Connector shop-orders \(sql, .*?, schedule \*/15 \* \* \* \*\): succeeded, "
                          r"read ([\d,]+), new events 0, already stored ([\d,]+)", first)
    assert connector and _number(connector[1]) > 0 and connector[2] != "0", first  # the CSV stored them first
    assert "Journeys: the last 90 days replayed in the sandbox" in first
    for key in ("rule_a_whitepaper", "rule_b_post_purchase", "welcome", "dormant_reactivation"):
        assert f"({key})" in first
    journeys = first[first.index("Journeys: the last 90 days"):]
    assert re.search(r"email [1-9]", journeys), journeys  # the replay sends messages
    kpis = first[first.index("关键指标 KPIs of the replay"):]  # the replay ends with a KPI table from the rollups
    for header in ("发送", "送达", "打开率", "点击率", "转化", "退订"):
        assert header in kpis, kpis
    assert re.search(r"\d+\.\d%", kpis), kpis  # rates are computed, not all "-"

    assert "http://127.0.0.1:8000/" in first and re.search(r"demo login: demo@touchflow.example password: \S{12,}",
                                                          first), first[-600:]  # the console, and a way in
    second = _demo(runner, tmp_path)
    assert "its password was shown by the first demo run" in second
    assert "This run: 0 new contacts, 0 new events, 0 merges" in second, second
    assert "Connector shop-orders" in second and ": succeeded, read 1," in second  # from its cursor: the last row
    again = _STORE.search(second)
    assert again and again[1] == store[1]


def test_sample_data_command_writes_the_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sample-data", str(tmp_path / "out"), "--contacts", "50", "--seed", "3"])
    assert result.exit_code == 0, result.output
    for name in FILES.values():
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert "crm_contacts.csv" in result.output
