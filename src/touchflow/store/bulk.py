"""Bulk inserts on the hot path, below SQLAlchemy's per-value type processing.

Core's executemany spends more time converting each bound value than the database spends storing
it. Here the statement is built once per (dialect, table, columns) and values are converted with
one precomputed function per column, then handed to the driver's ``executemany``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Table

from touchflow.store.types import UTCDateTime

__all__ = ["bulk_insert"]

Converter = Callable[[Any], Any]


def _sqlite_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTCDateTime column")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _same(value: Any) -> Any:
    return value


@lru_cache(maxsize=64)
def _plan(dialect: str, table: Table, columns: tuple[str, ...], ignore_conflicts: bool
          ) -> tuple[str, tuple[Converter, ...]]:
    converters: list[Converter] = []
    marks: list[str] = []
    for name in columns:
        column = table.c[name]
        if isinstance(column.type, UTCDateTime):
            converters.append(_sqlite_datetime if dialect == "sqlite" else _same)
            marks.append("?" if dialect == "sqlite" else "%s")
        elif isinstance(column.type, JSON):
            converters.append(_json)
            marks.append("?" if dialect == "sqlite" else "%s::jsonb")
        else:
            converters.append(_same)
            marks.append("?" if dialect == "sqlite" else "%s")
    cols = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table.name}" ({cols}) VALUES ({", ".join(marks)})'
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    return sql, tuple(converters)


def bulk_insert(connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                ignore_conflicts: bool = False) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) in one driver-level executemany."""
    if not rows:
        return
    dialect = connection.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"bulk_insert supports sqlite and postgresql, not {dialect}")
    sql, converters = _plan(dialect, table, tuple(columns), ignore_conflicts)
    convert_at = [(i, c) for i, c in enumerate(converters) if c is not _same]
    if not convert_at:
        connection.exec_driver_sql(sql, [tuple(r) for r in rows])
        return
    memo: dict[tuple[int, Any], Any] = {}  # rows of one batch share timestamps: convert each once
    params = []
    for row in rows:
        values = list(row)
        for i, convert in convert_at:
            value = values[i]
            if isinstance(value, datetime):
                key = (i, value)
                done = memo.get(key)
                if done is None:
                    done = memo[key] = convert(value)
                values[i] = done
            else:
                values[i] = convert(value)
        params.append(tuple(values))
    connection.exec_driver_sql(sql, params)
