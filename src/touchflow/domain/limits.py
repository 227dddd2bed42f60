"""Bounds on free-form JSON that every entry point shares (API, imports, journeys, segments).

A value nested deeper than ``MAX_JSON_DEPTH`` or an integer outside 64 bits cannot be stored by every
JSON encoder and database the platform uses (orjson stops at 255 levels and 64-bit integers; SQLite
integers are 64-bit), so it is refused where it comes in, naming the field, instead of failing a batch.
"""

from __future__ import annotations

__all__ = ["INT64_MAX", "INT64_MIN", "MAX_JSON_DEPTH", "clip_json", "fits_int64", "json_problem"]

MAX_JSON_DEPTH = 32
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def json_problem(value: object, path: str, depth: int = 1) -> tuple[str, str] | None:
    """(field, reason) of the first part of ``value`` that is nested too deep or an integer too wide.

    ``depth`` is the level ``value`` sits at (1: a top-level field). Iterative, so a hostile value
    thousands of levels deep costs no recursion.
    """
    # (value, its parent's path, its key or None for the root, level): a leaf's path is built only if it is wrong.
    stack: list[tuple[object, str, object, int]] = [(value, path, None, depth)]
    while stack:
        item, parent, key, level = stack.pop()
        kind = type(item)
        if kind is str or kind is float or kind is bool or item is None:
            continue
        where = parent if key is None else f"{parent}.{key}"
        if isinstance(item, dict | list) and level > MAX_JSON_DEPTH:
            return where, f"nested deeper than {MAX_JSON_DEPTH} levels"
        if isinstance(item, dict):
            stack.extend((v, where, k, level + 1) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, where, i, level + 1) for i, v in enumerate(item))
        elif isinstance(item, int) and not isinstance(item, bool) and not fits_int64(item):
            return where, "integer out of the 64-bit range"
    return None


def clip_json(value: object, depth: int = 0) -> object:
    """``value`` made storable: parts nested past the limit become a note, wide integers become text.

    For keeping a refused item (the rejects table) without failing on what made it refused.
    """
    if isinstance(value, dict | list) and depth >= MAX_JSON_DEPTH:
        return f"(nested deeper than {MAX_JSON_DEPTH} levels: not kept)"
    if isinstance(value, dict):
        return {str(k): clip_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clip_json(v, depth + 1) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and not fits_int64(value):
        return str(value)
    return value
