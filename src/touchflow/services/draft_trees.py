"""The round-trip trees of the journey texts this process last answered, so an edit skips reading again
the text it just wrote.

The canvas is stateless towards the server: each edit sends the whole text the previous edit answered.
Reading it again with ruamel.yaml was half of an edit's time on a 200-node journey (ADR 0055). The
answer's tree is kept here under the text's token; the next edit of that exact text takes it (and owns
it: the entry is removed, so no two requests change one tree), and a text not found is read as before.
``dump(edit(tree))`` equals ``dump(edit(load(dump(tree))))`` — `tests/unit/test_draft_trees.py` checks it
over every example and a generated corpus, for every kind of edit.

The plain data of each answer (what publishing reads from the text) is kept beside it, for the builder
page, which only reads it.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any

from ruamel.yaml.comments import CommentedMap

from touchflow.domain.journeys.document import version_token

__all__ = ["clear", "data_of", "keep", "reusable", "take"]

_BLANK_LINE = re.compile(r"(?:^|\n)[ \t]*\r?\n")
_SIZE = 32  # texts; a 200-node journey's tree is about 2 MB
_lock = threading.Lock()
_trees: OrderedDict[str, CommentedMap] = OrderedDict()
_data: OrderedDict[str, Any] = OrderedDict()


def take(text: str) -> CommentedMap | None:
    """The tree of ``text`` if this process answered it and nobody has taken it since; the caller owns it."""
    with _lock:
        return _trees.pop(version_token(text), None)


def reusable(text: str) -> bool:
    """Whether an edit may start from the kept tree of ``text``: no comments and no blank lines, which
    ruamel.yaml keeps as comment tokens whose place after several edits differs from a fresh read's."""
    return "#" not in text and _BLANK_LINE.search(text) is None


def keep(text: str, doc: CommentedMap | None, data: Any) -> None:
    """Remember ``doc`` (the tree ``text`` was dumped from; None: only the data) and ``data``, its plain data.
    A tree is kept only for a ``reusable`` text."""
    token = version_token(text)
    with _lock:
        if doc is not None and reusable(text):
            _trees[token] = doc
            _trees.move_to_end(token)
            while len(_trees) > _SIZE:
                _trees.popitem(last=False)
        _data[token] = data
        _data.move_to_end(token)
        while len(_data) > _SIZE:
            _data.popitem(last=False)


def data_of(text: str) -> Any | None:
    """The plain data last kept for ``text`` (read-only: shared), or None."""
    with _lock:
        return _data.get(version_token(text))


def clear() -> None:
    """Forget every kept text (a restarted process; the builder bench's cold page opens)."""
    with _lock:
        _trees.clear()
        _data.clear()
