"""Bulk inserts on the hot path, below SQLAlchemy's per-value type processing.

Core's executemany spends more time converting each bound value than the database spends storing
it. Here the statement is built once per (dialect, table, columns) and values are converted with
one precomputed function per column, then handed to the driver's ``executemany``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Table

from touchflow.store.types import UTCDateTime

__all__ = ["bulk_insert", "bulk_update"]

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


def _column_plan(dialect: str, table: Table, columns: tuple[str, ...]) -> tuple[list[str], list[Converter]]:
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
    return marks, converters


@lru_cache(maxsize=64)
def _plan(dialect: str, table: Table, columns: tuple[str, ...], ignore_conflicts: bool
          ) -> tuple[str, tuple[Converter, ...]]:
    marks, converters = _column_plan(dialect, table, columns)
    cols = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table.name}" ({cols}) VALUES ({", ".join(marks)})'
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    return sql, tuple(converters)


@lru_cache(maxsize=64)
def _update_plan(dialect: str, table: Table, key: str, columns: tuple[str, ...],
                 expressions: tuple[tuple[str, str], ...]) -> tuple[str, tuple[Converter, ...]]:
    marks, converters = _column_plan(dialect, table, (*columns, key))
    templates = dict(expressions)
    sets = ", ".join(f'"{c}" = ' + templates.get(c, "{v}").format(v=m) for c, m in zip(columns, marks, strict=False))
    return f'UPDATE "{table.name}" SET {sets} WHERE "{key}" = {marks[-1]}', tuple(converters)


def _execute(connection: Connection, sql: str, converters: Sequence[Converter], rows: Sequence[Sequence[Any]]) -> None:
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


def _dialect(connection: Connection) -> str:
    dialect = connection.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"bulk writes support sqlite and postgresql, not {dialect}")
    return dialect


def bulk_update(connection: Connection, table: Table, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                expressions: Mapping[str, str] | None = None) -> None:
    """``UPDATE table SET col = value … WHERE key = value`` for each row (values in ``columns`` order, then the
    key), in one driver-level executemany. ``expressions`` wrap a column's value, e.g. ``COALESCE({v}, "x")``."""
    if not rows:
        return
    sql, converters = _update_plan(_dialect(connection), table, key, tuple(columns),
                                   tuple(sorted((expressions or {}).items())))
    _execute(connection, sql, converters, rows)


def bulk_insert(connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                ignore_conflicts: bool = False) -> None:
    """Insert ``rows`` (tuples in ``columns`` order) in one driver-level executemany."""
    if not rows:
        return
    sql, converters = _plan(_dialect(connection), table, tuple(columns), ignore_conflicts)
    _execute(connection, sql, converters, rows)
