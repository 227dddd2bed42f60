"""Give a tree's strings the types a fresh read of its dump would give them, so it can be edited again
without reading the text (services/draft_trees, ADR 0055).

ruamel.yaml keeps a quoted string's quotes when a mapping value is replaced (``CommentedMap.__setitem__``
turns the new ``str`` into the old value's ``SingleQuotedScalarString`` …). A string an edit put in the tree
is a plain ``str`` even when its dump is quoted; read again, it would be a quoted-string type. Without
settling, the next edit of that field would dump differently from the same edit of the text read again.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.compat import ordereddict
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from touchflow.domain.journeys.document import dump_document, load_document

__all__ = ["settle"]

# Certainly written plain in any context: word characters (any script), digits, spaces inside, dots, dashes,
# slashes; not a word YAML 1.2 reads as something else (true, null, 1.5, .inf …; checked by reading it back).
_PLAIN = re.compile(r"[^\W_][\w .\-/]*[\w.]|[^\W_]")


def settle(doc: CommentedMap | CommentedSeq, flow: bool = False) -> None:
    """Retype, in place, every mapping value that is a bare ``str`` its dump quotes."""
    if isinstance(doc, CommentedMap):
        flow = flow or bool(doc.fa.flow_style())
        for key, value in doc.items():
            if type(value) is str:
                quote = _quote(value, flow)
                if quote:
                    kind = SingleQuotedScalarString if quote == "'" else DoubleQuotedScalarString
                    ordereddict.__setitem__(doc, key, kind(value))  # not CommentedMap's: that keeps the old type
            elif isinstance(value, CommentedMap | CommentedSeq):
                settle(value, flow)
    else:
        flow = flow or bool(doc.fa.flow_style())
        for item in doc:
            if isinstance(item, CommentedMap | CommentedSeq):
                settle(item, flow)


@lru_cache(maxsize=8192)
def _quote(value: str, flow: bool) -> str:
    """The quote character the dump writes ``value`` with as a mapping value ('' for none)."""
    if _PLAIN.fullmatch(value) and type(_read_back(value)) is str:
        return ""
    probe = load_document("k: {v: 0}\n" if flow else "k:\n  v: 0\n")
    probe["k"]["v"] = value
    text = dump_document(probe)
    written = text.split("v: ", 1)[1]
    return written[0] if written[:1] in ("'", '"') else ""


@lru_cache(maxsize=8192)
def _read_back(value: str) -> object:
    return load_document(f"v: {value}\n")["v"]
