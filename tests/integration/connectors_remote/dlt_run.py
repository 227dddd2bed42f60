"""Run a kind's dlt resource through a real dlt pipeline whose destination collects the rows (unit-level)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dlt

__all__ = ["collect"]


def collect(resource: Any, tmp: Path, name: str = "t") -> list[dict[str, Any]]:
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"  # no network here
    rows: list[dict[str, Any]] = []

    @dlt.destination(batch_size=50, loader_file_format="typed-jsonl", naming_convention="direct",
                     skip_dlt_columns_and_tables=True)
    def sink(items: Any, table: Any) -> None:
        rows.extend(dict(item) for item in items)

    pipeline = dlt.pipeline(pipeline_name=f"test_{name}", pipelines_dir=str(tmp / "dlt"), destination=sink(),
                            dataset_name="x")
    pipeline.run(resource)
    return rows
