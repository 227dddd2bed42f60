"""SQL functions that read the same on SQLite and PostgreSQL, for ``touchflow.store.compile``.

Typed JSON access (a value only when the stored JSON value has the wanted kind, never a cast that
raises), text in code-point order, and a case-sensitive text position. Each takes its JSON key as a
PostgreSQL key and as SQLite JSON path(s), all bound parameters, so the statement cache never mixes
two keys up.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, Float, String, case, func, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["CodePointOrder", "JsonKind", "JsonNumber", "JsonText", "TextPosition"]


class _JsonPart(FunctionElement[Any]):
    inherit_cache = True

    def __init__(self, doc: ColumnElement[Any], key: str) -> None:
        paths = [f'$."{key}"']
        escaped = json.dumps(key)[1:-1]
        if escaped != key:
            # SQLite (3.40) matches path keys against the raw JSON text, and Python's json module writes
            # non-ASCII keys as \uXXXX escapes while orjson does not: look the key up in both spellings.
            paths.append(f'$."{escaped}"')
        super().__init__(doc, literal(key, String), *(literal(p, String) for p in paths))


class JsonKind(_JsonPart):
    """'number', 'string', 'true', 'false', 'null', 'object', 'array' or 'missing'; never NULL."""

    type = String()
    name = "json_kind"
    inherit_cache = True


class JsonText(_JsonPart):
    """The value when it is a JSON string, else NULL."""

    type = String()
    name = "json_text"
    inherit_cache = True


class JsonNumber(_JsonPart):
    """The value when it is a JSON number, else NULL."""

    type = Float()
    name = "json_number"
    inherit_cache = True


class CodePointOrder(FunctionElement[str]):
    """Text ordered by code point, like Python's ``str`` comparison."""

    type = String()
    name = "code_point_order"
    inherit_cache = True


class TextPosition(FunctionElement[int]):
    """1-based position of a needle in a text, 0 when absent: case-sensitive, unlike SQLite's LIKE."""

    name = "text_position"
    inherit_cache = True


def _parts(element: FunctionElement[Any]) -> list[ColumnElement[Any]]:
    return list(element.clauses)


def _sqlite_type(element: FunctionElement[Any]) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """(json_type, json_extract) of the key, over every spelling of it."""
    doc, _key, *paths = _parts(element)
    if len(paths) == 1:
        return func.json_type(doc, paths[0]), func.json_extract(doc, paths[0])
    return (func.coalesce(*(func.json_type(doc, p) for p in paths)),
            func.coalesce(*(func.json_extract(doc, p) for p in paths)))


def _pg_type(element: FunctionElement[Any]) -> tuple[ColumnElement[Any], ColumnElement[Any], ColumnElement[Any]]:
    doc, key, *_paths = _parts(element)
    return func.jsonb_typeof(doc.op("->")(key)), doc, key


@compiles(JsonKind, "sqlite")
def _kind_sqlite(element: JsonKind, compiler: SQLCompiler, **kw: Any) -> str:
    kind, _ = _sqlite_type(element)
    expr = func.coalesce(case((kind.in_(["integer", "real"]), "number"), (kind == "text", "string"), else_=kind),
                         "missing")
    return compiler.process(expr, **kw)


@compiles(JsonKind, "postgresql")
def _kind_pg(element: JsonKind, compiler: SQLCompiler, **kw: Any) -> str:
    kind, doc, key = _pg_type(element)
    expr = func.coalesce(case((kind == "boolean", doc.op("->>")(key)), else_=kind), "missing")
    return compiler.process(expr, **kw)


@compiles(JsonText, "sqlite")
def _text_sqlite(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    kind, value = _sqlite_type(element)
    return compiler.process(case((kind == "text", value)), **kw)


@compiles(JsonText, "postgresql")
def _text_pg(element: JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    kind, doc, key = _pg_type(element)
    return compiler.process(case((kind == "string", doc.op("->>")(key))), **kw)


@compiles(JsonNumber, "sqlite")
def _number_sqlite(element: JsonNumber, compiler: SQLCompiler, **kw: Any) -> str:
    kind, value = _sqlite_type(element)
    return compiler.process(case((kind.in_(["integer", "real"]), value)), **kw)


@compiles(JsonNumber, "postgresql")
def _number_pg(element: JsonNumber, compiler: SQLCompiler, **kw: Any) -> str:
    # CASE keeps the cast from ever seeing text, which would raise instead of not matching.
    kind, doc, key = _pg_type(element)
    return compiler.process(case((kind == "number", doc.op("->>")(key).cast(Float(precision=53)))), **kw)


@compiles(CodePointOrder, "sqlite")
def _order_sqlite(element: CodePointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(_parts(element)[0], **kw)  # BINARY collation: byte order of UTF-8 = code points


@compiles(CodePointOrder, "postgresql")
def _order_pg(element: CodePointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return f'({compiler.process(_parts(element)[0], **kw)}) COLLATE "C"'


@compiles(TextPosition, "sqlite")
def _position_sqlite(element: TextPosition, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(func.instr(*_parts(element)), **kw)


@compiles(TextPosition, "postgresql")
def _position_pg(element: TextPosition, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(func.strpos(*_parts(element)), **kw)
