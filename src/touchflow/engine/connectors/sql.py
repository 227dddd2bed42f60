"""The ``sql`` kind: any SQLAlchemy URL (MySQL/MariaDB via PyMySQL, PostgreSQL, SQL Server, SQLite), a table or a
query, incremental by an updated-at or id column.

A table is read with dlt's ``sql_table`` (reflection, chunks, ``WHERE cursor >= last ORDER BY cursor``); a query is
wrapped as ``SELECT * FROM (query) AS q WHERE cursor >= :last ORDER BY cursor`` and streamed in chunks, with the same
``dlt.sources.incremental`` keeping the cursor. The password is a secret (``password``), never part of the stored URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import dlt
from dlt.sources.sql_database import sql_table
from sqlalchemy import Engine, MetaData, Table, bindparam, column, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchTableError
from sqlalchemy.pool import NullPool

from touchflow.domain.events import JSONValue
from touchflow.engine.connectors.kinds import SourceRequest, register_kind

__all__ = ["build_sql", "sql_engine", "test_sql"]

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?)?")


def _setting(request: SourceRequest, key: str) -> str | None:
    value = request.settings.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def sql_engine(request: SourceRequest) -> Engine:
    """An engine on ``settings.url`` with the ``password`` secret put in; ValueError naming the setting."""
    url_text = _setting(request, "url")
    if url_text is None:
        raise ValueError("settings.url: an SQLAlchemy URL, e.g. postgresql+psycopg://user@host:5432/db")
    try:
        url = make_url(url_text)
    except ArgumentError as exc:
        raise ValueError(f"settings.url: not an SQLAlchemy URL ({exc})") from None
    if url.password is not None:
        raise ValueError("settings.url: holds a password; put it in --secret-file as password=… (it is sealed)")
    if "password" in request.secrets and url.get_backend_name() != "sqlite":  # a file has no password
        url = url.set(password=request.secrets["password"])
    return create_engine(url, poolclass=NullPool)  # a run's connections close with it: nothing pooled between runs


def _start(value: JSONValue, column_type: tuple[type | None, bool]) -> Any:
    """The committed cursor (JSON) as the column's type: ISO text back to a datetime for a timestamp column, naive
    (in UTC, as dlt reads naive values) for a column without a zone."""
    python_type, naive = column_type
    if isinstance(value, str) and _ISO.fullmatch(value) and python_type in (datetime, date, None):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if python_type is date:
            return parsed.date()
        if naive and parsed.tzinfo is not None:
            return parsed.astimezone(UTC).replace(tzinfo=None)
        return parsed
    return value


def _incremental(request: SourceRequest, column_type: tuple[type | None, bool]) -> Any:
    if request.cursor_field is None:
        return None
    return dlt.sources.incremental(request.cursor_field, initial_value=_start(request.cursor_value, column_type),
                                   row_order="asc", on_cursor_value_missing="include")


def _column_type(engine: Engine, table: str, schema: str | None, name: str | None) -> tuple[type | None, bool]:
    try:
        reflected = Table(table, MetaData(), autoload_with=engine, schema=schema)
    except NoSuchTableError:
        raise ValueError(f"settings.table: no table {table!r} in the source database") from None
    if name is None:
        return None, False
    if name not in reflected.c:
        raise ValueError(f"cursor: no column {name!r} in {table} (columns: {', '.join(reflected.c.keys())})")
    sql_type = reflected.c[name].type
    try:
        python_type: type | None = sql_type.python_type
    except NotImplementedError:
        python_type = None
    return python_type, not getattr(sql_type, "timezone", False)


def _query_rows(engine: Engine, query: str, cursor_field: str | None, chunk: int, incremental: Any
                ) -> Iterator[list[dict[str, Any]]]:
    statement = select(text("*")).select_from(text(f"({query}) AS q"))
    params: dict[str, Any] = {}
    if cursor_field is not None:
        if incremental.last_value is not None:
            statement = statement.where(column(cursor_field) >= bindparam("last"))
            params["last"] = incremental.last_value
        statement = statement.order_by(column(cursor_field))
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=chunk).execute(statement, params)
        for part in result.partitions(chunk):
            yield [dict(row._mapping) for row in part]


def build_sql(request: SourceRequest) -> Any:
    table, query = _setting(request, "table"), _setting(request, "query")
    if (table is None) == (query is None):
        raise ValueError("settings: give table=NAME or query=SELECT …, one of them")
    chunk = request.settings.get("chunk_size", 10_000)
    if not isinstance(chunk, int) or not 1 <= chunk <= 1_000_000:
        raise ValueError(f"settings.chunk_size: a whole number 1-1000000, got {chunk!r}")
    engine = sql_engine(request)
    schema = _setting(request, "schema")
    if table is not None:
        incremental = _incremental(request, _column_type(engine, table, schema, request.cursor_field))
        return sql_table(credentials=engine, table=table, schema=schema, incremental=incremental, chunk_size=chunk,
                         backend="sqlalchemy", reflection_level="minimal")
    assert query is not None
    incremental = _incremental(request, (None, False))

    def rows(cursor: Any = incremental) -> Iterator[list[dict[str, Any]]]:
        yield from _query_rows(engine, query, request.cursor_field, chunk, cursor)

    return dlt.resource(rows, name=request.connector_name.replace("-", "_"))()


def test_sql(request: SourceRequest) -> None:
    """Connect and read no row: the table (and cursor column) exist, or the query runs."""
    table, query = _setting(request, "table"), _setting(request, "query")
    engine = sql_engine(request)
    try:
        if table is not None:
            _column_type(engine, table, _setting(request, "schema"), request.cursor_field)
        elif query is not None:
            with engine.connect() as connection:
                connection.execute(select(text("*")).select_from(text(f"({query}) AS q")).limit(0)).close()
        else:
            raise ValueError("settings: give table=NAME or query=SELECT …")
    finally:
        engine.dispose()


register_kind("sql", build_sql, required_settings=("url",), secret_names=("password",), test=test_sql)
