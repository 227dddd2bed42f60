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
import re
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError as RuamelError
from ruamel.yaml.scalarint import ScalarInt
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString, SingleQuotedScalarString
from yaml.reader import Reader

from touchflow.domain.journeys.parse import DefinitionError
from touchflow.domain.safe_yaml import DEFAULT_LIMITS, YamlLimits, load_yaml

__all__ = ["LAYOUT_KEY", "dump_document", "format_text", "load_checked", "load_document", "plain_data",
           "version_token"]

LAYOUT_KEY = "layout"
_CHECKED_SIZE = 256
_checked: dict[str, None] = {}  # tokens of recent texts that ``load_checked`` found within the limits


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


def load_checked(text: str) -> Any:
    """``load_yaml(text)``, remembering that the text is within the limits and a mapping.

    The canvas sends back the text the previous edit answered; ``load_document`` then skips reading it a
    second time just for the limits."""
    data = load_yaml(text)
    if isinstance(data, dict):
        _remember(text)
    return data


_STR = "tag:yaml.org,2002:str"
_RESOLVER = yaml.resolver.Resolver()
_ODD_BREAKS = re.compile("[\r\x85\u2028\u2029\ufeff]")
_NOT_PLAIN = ("&", "*", "!", "%")  # anchors, aliases, merge keys, tags, directives: read the text instead


class _Unsure(Exception):
    """The tree holds something PyYAML might read differently: read the text."""


def _plain(value: object, depth: int, count: list[int], limits: YamlLimits) -> Any:
    count[0] += 1
    if depth > limits.max_depth or count[0] > limits.max_nodes:
        raise _Unsure
    kind = type(value)
    if kind is CommentedMap:
        out: dict[Any, Any] = {}
        for key, item in value.items():  # type: ignore[attr-defined]
            out[_plain(key, depth + 1, count, limits)] = _plain(item, depth + 1, count, limits)
        return out
    if kind is CommentedSeq:
        return [_plain(item, depth + 1, count, limits) for item in value]  # type: ignore[attr-defined]
    if isinstance(value, str) and _ODD_BREAKS.search(value):  # line breaks YAML 1.1 and 1.2 fold differently
        raise _Unsure
    if kind is str:  # a plain (unquoted) scalar: YAML 1.1 may read it as something else (on, 010, 1:30)
        if _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) != _STR:  # type: ignore[no-untyped-call]
            raise _Unsure
        return value
    if kind in (SingleQuotedScalarString, DoubleQuotedScalarString, LiteralScalarString):
        return str(value)
    if kind is int or kind is bool or value is None:  # decimal ints, true/false, null read alike in both
        return value
    if kind is ScalarInt and value._width == 1 and value._underscore is None:  # type: ignore[attr-defined]
        return 0  # a bare ``0`` (ruamel keeps its width): every layout at x 0 or y 0 — both read 0
    raise _Unsure  # floats, 0-padded or octal ints, dates, folded text …: read the text


def plain_data(doc: CommentedMap, text: str, limits: YamlLimits = DEFAULT_LIMITS) -> Any:
    """``load_yaml(text)`` where ``text`` is ``dump_document(doc)``, built from the tree instead of a second
    reading when the tree holds only values that PyYAML (YAML 1.1) reads exactly as ruamel.yaml (1.2) did;
    otherwise (an ``on`` key, a date, a float, an anchor …) it reads the text. Either way, the data is
    exactly what publishing reads from the text, and a text over the limits raises as ``load_yaml``."""
    if (not any(mark in text for mark in _NOT_PLAIN) and len(text) * 4 <= limits.max_bytes
            and not Reader.NON_PRINTABLE.search(text)):  # characters PyYAML refuses: let it say so
        try:
            data = _plain(doc, 1, [0], limits)
        except _Unsure:
            pass
        else:
            _remember(text)
            return data
    return load_checked(text)


def _remember(text: str) -> None:
    if len(_checked) >= _CHECKED_SIZE:
        _checked.clear()
    _checked[version_token(text)] = None


def load_document(text: str) -> CommentedMap:
    """The round-trip tree of a journey text; ``DefinitionError`` when it is not a YAML mapping."""
    if version_token(text) not in _checked:
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

