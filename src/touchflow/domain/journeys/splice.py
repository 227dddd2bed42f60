"""Dump only the blocks an edit changed and copy the rest from the text it started from (ADR 0057).

Dumping the whole round-trip tree after each canvas edit was about 85 % of an edit of a 200-node journey.
An edit of one node changes one block of the text: ``nodes.<id>`` (or ``layout.<id>``, or one top-level
key). In the house style the dump of a block mapping is the concatenation of its entries' dumps, each a
run of lines starting at the entry's column, and an entry's dump depends only on its own value and depth.
So the new text is the old text's entries, in the tree's new order, with the changed ones dumped alone
(inside ``{top: {child: value}}``, the depth they have in the document).

It is used only where that holds for certain, and says None (dump everything) otherwise: edits other
than ``set_field``, ``connect``, ``add_node`` and ``move``; texts with anchors, aliases, tags, directives or
document marks (an alias's anchor may sit in another entry); a top-level or ``nodes``/``layout`` mapping in flow style;
keys that are not plain identifiers; any entry of the old text not found where it should be.
``tests/unit/test_draft_trees.py`` checks ``splice_dump == dump_document`` along chains of random edits
over every example and a generated corpus.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ruamel.yaml.comments import CommentedMap

from touchflow.domain.journeys.document import LAYOUT_KEY, dump_document

__all__ = ["Touched", "splice_dump", "touched_by"]

_SPLIT = (LAYOUT_KEY, "nodes")  # the top-level mappings spliced entry by entry
_ENTRY = re.compile(r"([A-Za-z_][A-Za-z0-9_\-]*):[ \n]")
# an anchor, alias or tag token (after a space, a line start or a flow indicator), a directive, a document mark
_UNSURE = re.compile(r"(?:^|[\s\[{,])[&*!]|^(?:%|---|\.\.\.)", re.M)


@dataclass(slots=True)
class Touched:
    """What an edit may have changed: whole top-level entries, and single entries of ``nodes``/``layout``."""

    tops: set[str] = field(default_factory=set)
    children: dict[str, set[str]] = field(default_factory=dict)


def touched_by(ops: Sequence[object]) -> Touched | None:
    """The entries ``ops`` (already applied without error) can have changed; None when not known."""
    touched = Touched()
    for op in ops:
        if not isinstance(op, Mapping):
            return None
        kind, node = op.get("op"), op.get("node")
        if kind == "set_field" and node is None:
            path = op.get("path")
            if not isinstance(path, list) or not path or not isinstance(path[0], str):
                return None
            touched.tops.add(path[0])
            continue
        top, child = {"set_field": ("nodes", node), "connect": ("nodes", op.get("from")),
                      "add_node": ("nodes", op.get("id")), "move": (LAYOUT_KEY, op.get("id"))}.get(
            str(kind), (None, None))
        if top is None or not isinstance(child, str):
            return None
        touched.children.setdefault(top, set()).add(child)
    return touched


def _entries(text: str, indent: int) -> dict[str, str] | None:
    """The entries of a block mapping written at column ``indent``, by key; None if one is not plain."""
    starts = [m.start() for m in re.finditer(rf"^ {{{indent}}}(?=\S)", text, re.M)]
    if not starts or starts[0] != 0:
        return None
    out: dict[str, str] = {}
    for start, end in zip(starts, [*starts[1:], len(text)], strict=True):
        match = _ENTRY.match(text, start + indent)
        if match is None or match.group(1) in out:
            return None
        out[match.group(1)] = text[start:end]
    return out


def _alone(top: str, child: str, value: object) -> str | None:
    """The dump of ``child: value`` at its depth in the document, below the top-level entry ``top``."""
    text = dump_document(CommentedMap([(top, CommentedMap([(child, value)]))]))
    head = f"{top}:\n"
    return text[len(head):] if text.startswith(head) else None


def _plain_keys(mapping: CommentedMap) -> bool:
    return not mapping.fa.flow_style() and all(type(k) is str and _ENTRY.fullmatch(f"{k}: ") for k in mapping)


def splice_dump(old_text: str, doc: CommentedMap, touched: Touched | None) -> str | None:
    """``dump_document(doc)`` where ``doc`` is the tree of ``old_text`` after an edit that changed at most
    ``touched``; None when that cannot be built from ``old_text`` for certain (then dump the tree)."""
    if touched is None or not old_text.endswith("\n") or _UNSURE.search(old_text) or not _plain_keys(doc):
        return None
    tops = _entries(old_text, 0)
    if tops is None:
        return None
    parts: list[str] = []
    for key, value in doc.items():
        old = tops.get(key)
        if key in touched.tops or old is None:
            parts.append(dump_document(CommentedMap([(key, value)])))  # a whole top-level entry
        elif key not in touched.children:
            parts.append(old)
        else:
            spliced = _splice_children(key, value, old, touched.children[key])
            if spliced is None:
                return None
            parts.append(spliced)
    return "".join(parts)


def _splice_children(key: str, value: object, old: str, changed: set[str]) -> str | None:
    head = f"{key}:\n"
    if not isinstance(value, CommentedMap) or not value or not _plain_keys(value) or not old.startswith(head):
        return None
    children = _entries(old[len(head):], 2)
    if children is None:
        return None
    parts = [head]
    for child, item in value.items():
        entry = children.get(child)
        if child in changed or entry is None:
            entry = _alone(key, child, item)
            if entry is None:
                return None
        parts.append(entry)
    return "".join(parts)
