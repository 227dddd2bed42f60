"""Sub-graphs as YAML text (copy and paste within and across journeys) and sticky notes on the canvas.

A fragment is a small journey-shaped document: ``nodes`` (as written, comments kept) and their ``layout``
positions, plus the selected sticky notes. Edges to nodes outside the selection are left out (the pasted copy
is connected by hand; ``end`` stays). Pasting renames a node whose id is taken (``send_2``), rewrites the edges
inside the fragment to the new ids and places the copy ``dx``/``dy`` pixels away, as ``add_node``/``move``/
``note`` operations, so a paste is one edit that undo takes back.

Sticky notes live in the layout key, under ``layout._notes`` (note id → ``{x, y, text}``): ``_`` cannot start a
node id, and the parser, the rules and the engine ignore the layout, so notes never change what runs and the
YAML round trip stays exact. ``{"op": "note", "id": "n1", "x": 0, "y": 0, "text": "…"}`` adds or changes one
(``text: null`` removes it).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

import yaml
from ruamel.yaml.comments import CommentedMap

from touchflow.domain.journeys.document import LAYOUT_KEY, dump_document, load_document
from touchflow.domain.journeys.edits import EDGE_FIELDS, EditError
from touchflow.domain.safe_yaml import YamlTooLarge, load_yaml

__all__ = ["FRAGMENT_HEAD", "MAX_NOTE", "NOTES_KEY", "OPS", "copy_fragment", "notes_of", "paste_ops"]

FRAGMENT_HEAD = "# touchflow journey fragment"
NOTES_KEY = "_notes"
MAX_NOTE = 2000
MAX_FRAGMENT = 256 * 1024
_NOTE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")
_NODE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")


def notes_of(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The sticky notes of a journey as plain data (what the canvas draws), in the order written."""
    layout = data.get(LAYOUT_KEY)
    notes = layout.get(NOTES_KEY) if isinstance(layout, Mapping) else None
    if not isinstance(notes, Mapping):
        return []
    return [{"id": str(k), "x": v.get("x", 0), "y": v.get("y", 0), "text": str(v.get("text", ""))}
            for k, v in notes.items() if isinstance(v, Mapping)]


def _outside_edges_dropped(node: CommentedMap, kept: Collection[str]) -> None:
    for name in EDGE_FIELDS:
        target = node.get(name)
        if isinstance(target, str) and target != "end" and target not in kept:
            del node[name]
    for group in ("cases", "paths"):
        for item in node.get(group) or ():
            if isinstance(item, CommentedMap):
                target = item.get("next")
                if isinstance(target, str) and target != "end" and target not in kept:
                    del item["next"]


def copy_fragment(text: str, node_ids: Collection[str], note_ids: Collection[str] = ()) -> str:
    """The selected nodes (and notes) of a journey text as a fragment; unknown ids raise ``EditError``."""
    doc = load_document(text)
    nodes = doc.get("nodes")
    nodes = nodes if isinstance(nodes, CommentedMap) else CommentedMap()
    wanted = [n for n in nodes if n in set(node_ids)]
    missing = sorted(set(node_ids) - set(wanted))
    if missing:
        raise EditError("nodes", f"no node named {missing[0]!r}")
    layout = doc.get(LAYOUT_KEY)
    layout = layout if isinstance(layout, CommentedMap) else CommentedMap()
    out_nodes = CommentedMap()
    out_layout = CommentedMap()
    for node_id in wanted:
        node = copy.deepcopy(nodes[node_id])
        if isinstance(node, CommentedMap):
            _outside_edges_dropped(node, wanted)
        out_nodes[node_id] = node
        if isinstance(layout.get(node_id), CommentedMap):
            out_layout[node_id] = copy.deepcopy(layout[node_id])
    notes = layout.get(NOTES_KEY)
    picked = CommentedMap()
    for note_id in note_ids:
        if not isinstance(notes, CommentedMap) or note_id not in notes:
            raise EditError("notes", f"no note named {note_id!r}")
        picked[note_id] = copy.deepcopy(notes[note_id])
    if picked:
        out_layout[NOTES_KEY] = picked
    fragment = CommentedMap(nodes=out_nodes)
    if out_layout:
        fragment[LAYOUT_KEY] = out_layout
    return f"{FRAGMENT_HEAD}: {', '.join(wanted) or '-'}\n{dump_document(fragment)}"


def _fragment(text: object, where: str) -> dict[str, Any]:
    if not isinstance(text, str) or not text.strip():
        raise EditError(f"{where}.fragment", "the YAML text of copied nodes")
    if len(text) > MAX_FRAGMENT:
        raise EditError(f"{where}.fragment", f"at most {MAX_FRAGMENT} characters")
    try:
        data = load_yaml(text)
    except (yaml.YAMLError, YamlTooLarge) as exc:
        raise EditError(f"{where}.fragment", f"not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict) or not data["nodes"]:
        raise EditError(f"{where}.fragment", "must hold 'nodes': a mapping of node id → node")
    for node_id, node in data["nodes"].items():
        if not isinstance(node_id, str) or not _NODE_ID.fullmatch(node_id) or node_id == "end":
            raise EditError(f"{where}.fragment.nodes", f"{node_id!r} is not a node id")
        if not isinstance(node, dict) or not isinstance(node.get("kind"), str):
            raise EditError(f"{where}.fragment.nodes.{node_id}", "a node with a kind")
    return data


def _free(node_id: str, taken: set[str]) -> str:
    if node_id not in taken:
        return node_id
    n = 2
    while f"{node_id[:60]}_{n}" in taken:
        n += 1
    return f"{node_id[:60]}_{n}"


def _renamed(node: dict[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    def target(value: object) -> object:
        return names.get(value, value) if isinstance(value, str) else value

    fields = {k: v for k, v in node.items() if k != "kind"}
    for name in EDGE_FIELDS:
        if name in fields:
            if isinstance(fields[name], str) and fields[name] != "end" and fields[name] not in names:
                del fields[name]  # it pointed outside the fragment
            else:
                fields[name] = target(fields[name])
    for group in ("cases", "paths"):
        items = fields.get(group)
        if isinstance(items, list):
            fields[group] = [({**item, "next": target(item["next"])}
                              if not isinstance(item.get("next"), str) or item["next"] in names
                              or item["next"] == "end" else {k: v for k, v in item.items() if k != "next"})
                             if isinstance(item, dict) and "next" in item else item for item in items]
    return fields


def paste_ops(doc: CommentedMap, op: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """``{"op": "paste", "fragment": TEXT, "dx": 40, "dy": 40}`` as the operations that add the copy."""
    data = _fragment(op.get("fragment"), where)
    shift = []
    for axis in ("dx", "dy"):
        value = op.get(axis, 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > 1_000_000:
            raise EditError(f"{where}.{axis}", "a number of pixels")
        shift.append(value)
    nodes = doc.get("nodes")
    taken = set(nodes) if isinstance(nodes, Mapping) else set()
    names: dict[str, str] = {}
    for node_id in data["nodes"]:
        names[node_id] = _free(node_id, taken)
        taken.add(names[node_id])
    found = data.get(LAYOUT_KEY)
    layout: dict[str, Any] = found if isinstance(found, dict) else {}
    ops: list[dict[str, Any]] = []
    for index, (node_id, node) in enumerate(data["nodes"].items()):
        ops.append({"op": "add_node", "id": names[node_id], "kind": node["kind"], "fields": _renamed(node, names)})
        spot = layout.get(node_id)
        x, y = (spot.get("x"), spot.get("y")) if isinstance(spot, dict) else (0, index * 140)
        if isinstance(x, int | float) and isinstance(y, int | float):
            ops.append({"op": "move", "id": names[node_id], "x": x + shift[0], "y": y + shift[1]})
    existing = {n["id"] for n in notes_of(doc)}
    for note in notes_of(data):
        new_id = _free(note["id"], existing)
        existing.add(new_id)
        ops.append({"op": "note", "id": new_id, "x": note["x"] + shift[0], "y": note["y"] + shift[1],
                    "text": note["text"]})
    return ops


def _note(doc: CommentedMap, op: Mapping[str, Any], where: str) -> None:
    note_id = op.get("id")
    if not isinstance(note_id, str) or not _NOTE_ID.fullmatch(note_id):
        raise EditError(f"{where}.id", "note ids are letters, digits, _ or -")
    layout = doc.get(LAYOUT_KEY)
    if layout is None:
        layout = doc[LAYOUT_KEY] = CommentedMap()
    if not isinstance(layout, CommentedMap):
        raise EditError(LAYOUT_KEY, "must be a mapping of node id → {x, y}")
    notes = layout.get(NOTES_KEY)
    if "text" in op and op["text"] is None:
        if isinstance(notes, CommentedMap) and note_id in notes:
            del notes[note_id]
            if not notes:
                del layout[NOTES_KEY]
        return
    if notes is None:
        notes = layout[NOTES_KEY] = CommentedMap()
    if not isinstance(notes, CommentedMap):
        raise EditError(f"{LAYOUT_KEY}.{NOTES_KEY}", "must be a mapping of note id → {x, y, text}")
    found = notes.get(note_id)
    note = found if isinstance(found, CommentedMap) else CommentedMap(x=0, y=0, text="")
    for axis in ("x", "y"):
        if axis in op:
            value = op[axis]
            if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > 1_000_000:
                raise EditError(f"{where}.{axis}", "a number of pixels")
            note[axis] = round(value)
    if "text" in op:
        text = op["text"]
        if not isinstance(text, str) or len(text) > MAX_NOTE:
            raise EditError(f"{where}.text", f"text of at most {MAX_NOTE} characters (null removes the note)")
        note["text"] = text
    notes[note_id] = note


OPS: Mapping[str, Callable[[CommentedMap, Mapping[str, Any], str], None]] = {"note": _note}
