"""Graph operations on a journey document: what the canvas sends instead of rewriting the YAML.

Each operation changes the round-trip tree in place (``journey_document``), so the text stays the single
source of truth and everything an operation does not touch keeps its bytes and comments. Operations come
from the browser as JSON: every malformed one raises ``EditError`` naming the operation and field.

    {"op": "add_node", "id": "wait_3d", "kind": "wait", "fields": {"duration": "3d"}}
    {"op": "connect", "from": "send_digest", "edge": "next", "to": "wait_3d"}   # "to": null ends the run
    {"op": "set_field", "node": "wait_3d", "path": ["duration"], "value": "2d"}  # value null removes it
    {"op": "set_field", "node": null, "path": ["trigger", "event"], "value": "content_download"}
    {"op": "delete_node", "id": "wait_3d"}      # edges into it are removed too
    {"op": "move", "id": "wait_3d", "x": 240, "y": 80}   # the layout key
    {"op": "paste", "fragment": "nodes: …", "dx": 40, "dy": 40}  # a copied sub-graph (journey_fragments)
    {"op": "note", "id": "n1", "x": 0, "y": 0, "text": "…"}       # a sticky note (journey_fragments)
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from touchflow.domain.errors import PathError
from touchflow.domain.journeys.document import LAYOUT_KEY, read_alike

__all__ = ["EDGE_FIELDS", "MAX_OPS", "EditError", "apply_ops", "raw_edges"]

MAX_OPS = 500
EDGE_FIELDS = ("next", "on_event", "on_timeout", "else")
_NODE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
_EDGE = re.compile(r"^(next|on_event|on_timeout|else|(cases|paths)\.(\d{1,3}))$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$|^\d{1,3}$")


class EditError(PathError):
    """An operation that cannot be applied; ``path`` is ``ops[i].field``."""


def raw_edges(node: object) -> Iterator[tuple[str, str | None]]:
    """(edge, target) of a node as written, before parsing: the canvas draws drafts that do not parse yet."""
    if not isinstance(node, Mapping):
        return
    for name in EDGE_FIELDS:
        if name in node:
            target = node[name]
            yield name, target if isinstance(target, str) and target != "end" else None
    for group in ("cases", "paths"):
        items = node.get(group)
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, Mapping) and "next" in item:
                    target = item["next"]
                    yield f"{group}.{index}", target if isinstance(target, str) and target != "end" else None


def _text(op: Mapping[str, Any], key: str, where: str) -> str:
    value = op.get(key)
    if not isinstance(value, str) or not value:
        raise EditError(f"{where}.{key}", "must be a non-empty string")
    return value


def _node_id(op: Mapping[str, Any], key: str, where: str) -> str:
    value = _text(op, key, where)
    if not _NODE_ID.fullmatch(value) or value == "end":
        raise EditError(f"{where}.{key}", "node ids are letters, digits, _ or -, start with a letter, not 'end'")
    return value


def _nodes(doc: CommentedMap) -> CommentedMap:
    nodes = doc.get("nodes")
    if nodes is None:
        nodes = doc["nodes"] = CommentedMap()
    if not isinstance(nodes, CommentedMap):
        raise EditError("nodes", "must be a block mapping to edit it")
    return nodes


def _existing(doc: CommentedMap, op: Mapping[str, Any], key: str, where: str) -> CommentedMap:
    node_id = _node_id(op, key, where)
    node = _nodes(doc).get(node_id)
    if not isinstance(node, CommentedMap):
        raise EditError(f"{where}.{key}", f"no node named {node_id!r}")
    return node


def _value(value: object, where: str, depth: int = 0) -> Any:
    """JSON from the browser as round-trip YAML values (mappings stay block style, lists flow style)."""
    if depth > 16:
        raise EditError(where, "nested too deeply")
    if isinstance(value, Mapping):
        out = CommentedMap()
        for k, v in value.items():
            if not isinstance(k, str):
                raise EditError(where, "keys must be strings")
            out[read_alike(k)] = _value(v, where, depth + 1)
        return out
    if isinstance(value, list):
        seq = CommentedSeq(_value(v, where, depth + 1) for v in value)
        seq.fa.set_flow_style()
        return seq
    if isinstance(value, str):
        return read_alike(value)  # "no" (the condition head), "on", "yes" stay strings when publishing reads them
    if value is None or isinstance(value, int | float | bool):
        return value
    raise EditError(where, "must be a JSON value")


def _add_node(doc: CommentedMap, op: Mapping[str, Any], where: str) -> None:
    node_id = _node_id(op, "id", where)
    nodes = _nodes(doc)
    if node_id in nodes:
        raise EditError(f"{where}.id", f"a node named {node_id!r} exists")
    kind = _text(op, "kind", where)
    fields = op.get("fields") or {}
    if not isinstance(fields, Mapping):
        raise EditError(f"{where}.fields", "must be an object")
    node = CommentedMap(kind=kind)
    for key, value in fields.items():
        if key == "kind":
            continue
        node[str(key)] = _value(value, f"{where}.fields.{key}")
    nodes[node_id] = node


def _connect(doc: CommentedMap, op: Mapping[str, Any], where: str) -> None:
    node = _existing(doc, op, "from", where)
    edge = _text(op, "edge", where)
    match = _EDGE.fullmatch(edge)
    if match is None:
        raise EditError(f"{where}.edge", "next, on_event, on_timeout, else, cases.N or paths.N")
    target = op.get("to")
    if target is not None:
        target = _node_id(op, "to", where)
    if match.group(2):
        items = node.get(match.group(2))
        index = int(match.group(3))
        if not isinstance(items, list) or index >= len(items) or not isinstance(items[index], CommentedMap):
            raise EditError(f"{where}.edge", f"the node has no {match.group(2)}[{index}]")
        items[index]["next"] = target
    else:
        node[edge] = target


def _delete_node(doc: CommentedMap, op: Mapping[str, Any], where: str) -> None:
    node_id = _node_id(op, "id", where)
    _existing(doc, op, "id", where)
    nodes = _nodes(doc)
    del nodes[node_id]
    for node in nodes.values():
        if not isinstance(node, CommentedMap):
            continue
        for name in EDGE_FIELDS:
            if node.get(name) == node_id:
                del node[name]
        for group in ("cases", "paths"):
            for item in node.get(group) or ():
                if isinstance(item, CommentedMap) and item.get("next") == node_id:
                    del item["next"]
    layout = doc.get(LAYOUT_KEY)
    if isinstance(layout, CommentedMap) and node_id in layout:
        del layout[node_id]
    if doc.get("start") == node_id:
        del doc["start"]


def _set_field(doc: CommentedMap, op: Mapping[str, Any], where: str) -> None:
    target: Any = doc if op.get("node") is None else _existing(doc, op, "node", where)
    path = op.get("path")
    if not isinstance(path, list) or not path or not all(isinstance(p, str) and _FIELD.fullmatch(p) for p in path):
        raise EditError(f"{where}.path", "a non-empty list of field names (or list indexes as digits)")
    for index, part in enumerate(path[:-1]):
        child = target[int(part)] if isinstance(target, list) and part.isdigit() and int(part) < len(target) else (
            target.get(part) if isinstance(target, CommentedMap) else None)
        if child is None and isinstance(target, CommentedMap):
            child = target[part] = CommentedMap()
        if not isinstance(child, CommentedMap | CommentedSeq):
            raise EditError(f"{where}.path[{index}]", f"{part!r} is not an object or list")
        target = child
    last = path[-1]
    value = op.get("value")
    if isinstance(target, CommentedSeq):
        if not last.isdigit() or int(last) > len(target):
            raise EditError(f"{where}.path", "list index out of range")
        if value is None:
            if int(last) < len(target):
                del target[int(last)]
        elif int(last) == len(target):
            target.append(_value(value, f"{where}.value"))
        else:
            target[int(last)] = _value(value, f"{where}.value")
        return
    if value is None:
        if last in target:
            del target[last]
        return
    if target.get(last) != value:  # an equal value keeps its original spelling (quotes, flow style)
        target[last] = _value(value, f"{where}.value")


def _move(doc: CommentedMap, op: Mapping[str, Any], where: str) -> None:
    node_id = _node_id(op, "id", where)
    coords = []
    for axis in ("x", "y"):
        value = op.get(axis)
        if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > 1_000_000:
            raise EditError(f"{where}.{axis}", "a number of pixels")
        coords.append(round(value))
    layout = doc.get(LAYOUT_KEY)
    if layout is None:
        layout = doc[LAYOUT_KEY] = CommentedMap()
    if not isinstance(layout, CommentedMap):
        raise EditError(LAYOUT_KEY, "must be a mapping of node id → {x, y}")
    spot = CommentedMap(x=coords[0], y=coords[1])
    spot.fa.set_flow_style()
    layout[node_id] = spot


_OPS = {"add_node": _add_node, "connect": _connect, "delete_node": _delete_node, "set_field": _set_field,
        "move": _move}


def apply_ops(doc: CommentedMap, ops: Sequence[object]) -> None:
    """Apply ``ops`` in order to ``doc``; the first bad one raises ``EditError`` (apply to a fresh copy)."""
    if len(ops) > MAX_OPS:
        raise EditError("ops", f"at most {MAX_OPS} operations at once")
    from touchflow.domain.journeys import (
        fragments as journey_fragments,  # sub-graphs and notes build on these operations
    )

    for index, op in enumerate(ops):
        where = f"ops[{index}]"
        if not isinstance(op, Mapping):
            raise EditError(where, "must be an object")
        if op.get("op") == "paste":  # a copied sub-graph: the operations that add it, in one edit
            for step, expanded in enumerate(journey_fragments.paste_ops(doc, op, where)):
                apply_one(doc, expanded, f"{where}.paste[{step}]")
            continue
        apply_one(doc, op, where)


def apply_one(doc: CommentedMap, op: Mapping[str, Any], where: str) -> None:
    """One operation (``paste`` excepted: ``apply_ops`` expands it)."""
    from touchflow.domain.journeys import fragments as journey_fragments

    handler = _OPS.get(op.get("op")) or journey_fragments.OPS.get(op.get("op"))  # type: ignore[arg-type]
    if handler is None:
        raise EditError(f"{where}.op", f"one of {', '.join([*_OPS, *journey_fragments.OPS, 'paste'])}")
    handler(doc, op, where)
