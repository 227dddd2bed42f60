"""The journey definition as a round-trip YAML document: the builder's one save path.

The YAML text is the single source of truth. The canvas and ``touchflow journey format`` load it with
ruamel.yaml's round-trip mode (comments, key order, quoting and flow style kept), change the document
tree and dump it again, so the parts nobody touched keep their bytes. ``safe_yaml.load_yaml`` reads the
text first: its size, alias and depth limits guard ruamel too.

The canvas layout lives under one top-level key, ``layout`` (node id → ``{x, y}``); the parser, the
validator's rules and the engine ignore it (docs/subsystems/builder.md).
"""

from __future__ import annotations

import hashlib
import io

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError as RuamelError

from touchflow.domain.journeys.parse import DefinitionError
from touchflow.domain.safe_yaml import load_yaml

__all__ = ["LAYOUT_KEY", "dump_document", "format_text", "load_document", "version_token"]

LAYOUT_KEY = "layout"


def _yaml() -> YAML:
    """One configuration for loading and dumping: the house style of examples/journeys (2-space maps,
    ``- `` items indented under their key, no line folding)."""
    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def version_token(text: str) -> str:
    """The save token of a text: a hash of its bytes, so equal texts have equal tokens on every server."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def load_document(text: str) -> CommentedMap:
    """The round-trip tree of a journey text; ``DefinitionError`` when it is not a YAML mapping."""
    try:
        data = load_yaml(text)  # limits first (YamlTooLarge goes to the caller): ruamel has none of its own
    except yaml.YAMLError as exc:
        raise DefinitionError("journey", f"not valid YAML/JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DefinitionError("journey", "must be a mapping at the top level")
    try:
        doc = _yaml().load(text)
    except RuamelError as exc:  # pragma: no cover - PyYAML accepted it; kept for the odd dialect difference
        raise DefinitionError("journey", f"not valid YAML: {exc}") from None
    if not isinstance(doc, CommentedMap):
        raise DefinitionError("journey", "must be a block mapping at the top level")
    return doc


def dump_document(doc: CommentedMap) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


def format_text(text: str) -> str:
    """``text`` through the save path: load and dump. Idempotent; hand-written house-style YAML is unchanged."""
    return dump_document(load_document(text))

