"""Advertising-Law (广告法) checks over marketing copy: terms a regulator objects to, found despite disguise.

Copy is normalised before matching so that ``最 佳``, ``最-佳``, ``最\\u200b佳``, ``最佳`` in full width and
``國家級`` in traditional characters all meet the listed ``最佳`` / ``国家级``. Every finding carries offsets
into the *original* text, so an editor can highlight exactly what to change. Design and sources:
docs/subsystems/compliance.md; the shipped list: domain/data/ad_terms.yaml.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal

import ahocorasick
import yaml
import zhconv

from touchflow.domain.errors import PathError
from touchflow.domain.safe_yaml import load_yaml

__all__ = [
    "REVIEW_CATEGORIES",
    "ComplianceScanner",
    "Finding",
    "Severity",
    "Term",
    "TermList",
    "TermListError",
    "blocking",
    "default_terms",
    "load_terms",
    "normalise_copy",
    "scan_text",
]

Severity = Literal["block", "warn"]
SEVERITIES: tuple[Severity, ...] = ("block", "warn")

# Characters that are dropped wherever they are: they are invisible and only serve to split a word.
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u200e\u200f"
# Characters used to split a word visibly. Sentence punctuation (。！？，；：、 and their ASCII forms) is
# NOT here: it stays a boundary, so words of two clauses never run together ("第一，次日发货").
_SEPARATORS = r"\s\-_.·•・*|/\\~‐‑‒–—―⋅∙" + _ZERO_WIDTH
_GAP = re.compile(f"[{_SEPARATORS}]+")
_ZERO_WIDTH_RUN = re.compile(f"[{_ZERO_WIDTH}]+")
# Full-width sentence punctuation is a boundary either way; leaving it unmapped keeps the fast path fast
# (it is in almost every sentence).
_UNMAPPED_PUNCTUATION = "，！？：；（）"
_WORD = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")
_ENTRY_KEYS = frozenset({"term", "category", "severity", "article", "note", "exceptions"})


class TermListError(PathError):
    """A term list is unusable; ``path`` names the entry and field (``terms[3].severity``)."""


@dataclass(frozen=True)
class Term:
    term: str
    category: str
    severity: Severity
    article: str
    note: str = ""
    exceptions: tuple[str, ...] = ()  # phrases containing the term that are not findings (第一次, 第一步)


@dataclass(frozen=True)
class TermList:
    terms: tuple[Term, ...]
    version: str


@dataclass(frozen=True)
class Finding:
    term: str
    category: str
    severity: Severity
    start: int  # offsets into the original text, end exclusive
    end: int
    article: str
    matched: str  # original[start:end], separators and all

    def document(self) -> dict[str, object]:
        return {"term": self.term, "category": self.category, "severity": self.severity, "start": self.start,
                "end": self.end, "article": self.article, "matched": self.matched}


# --- normalisation -------------------------------------------------------------------------------------

@cache
def _char_table() -> dict[int, str]:
    """One character to one character: NFKC (full width → half width, compatibility ideographs and Kangxi
    radicals → the ideograph), lower case, traditional → simplified. Mappings that would change the length
    (NFKC ``㍿`` → ``株式会社``) are left out, so this step keeps every offset."""
    with warnings.catch_warnings():
        # zhconv leaves its dictionary file for the garbage collector on first use (a ResourceWarning)
        warnings.simplefilter("ignore", ResourceWarning)
        zhconv.convert("國", "zh-cn")
    table: dict[int, str] = {}
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        char = chr(cp)
        out = unicodedata.normalize("NFKC", char)
        if len(out) != 1:
            out = char
        lower = out.lower()
        if len(lower) == 1:
            out = lower
        if 0x2E80 <= ord(out) <= 0x9FFF or 0xF900 <= ord(out) <= 0xFAFF:
            simplified = zhconv.convert(out, "zh-cn")
            if len(simplified) == 1:
                out = simplified
        if out != char and char not in _UNMAPPED_PUNCTUATION:
            table[cp] = out
    return table


@cache
def _mappable() -> re.Pattern[str]:
    """Runs of characters the table changes. Most copy is simplified Chinese that needs no change, so finding
    those runs with one character class and translating only them is several times faster than
    ``str.translate`` over everything."""
    ranges: list[list[int]] = []
    for cp in sorted(_char_table()):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    parts = (re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    return re.compile(f"[{''.join(parts)}]+")


def _translate_run(run: re.Match[str]) -> str:
    return run.group().translate(_char_table())


@dataclass(frozen=True)
class _Normalised:
    text: str
    starts: tuple[int, ...] = ()  # start of each kept piece in ``text``
    origins: tuple[int, ...] = ()  # where that piece starts in the original

    def original(self, index: int) -> int:
        if not self.starts:
            return index
        piece = bisect_right(self.starts, index) - 1
        return self.origins[piece] + index - self.starts[piece]


def _normalise(text: str) -> _Normalised:
    """Map characters one to one (offsets unchanged), then drop separator runs, remembering where each kept
    piece came from. A run between two ASCII letters or digits stays ("top 1", "v1.2"), but loses its
    zero-width characters."""
    mapped = _mappable().sub(_translate_run, text)
    gaps: list[tuple[int, int]] = []
    for gap in _GAP.finditer(mapped):
        begin, end = gap.span()
        if begin > 0 and end < len(mapped) and mapped[begin - 1] in _WORD and mapped[end] in _WORD:
            gaps.extend((begin + z.start(), begin + z.end()) for z in _ZERO_WIDTH_RUN.finditer(gap.group()))
        else:
            gaps.append((begin, end))
    if not gaps:
        return _Normalised(mapped)
    pieces: list[str] = []
    starts: list[int] = []
    origins: list[int] = []
    kept = position = 0
    for begin, end in gaps:
        if begin > position:
            pieces.append(mapped[position:begin])
            starts.append(kept)
            origins.append(position)
            kept += begin - position
        position = end
    if position < len(mapped):
        pieces.append(mapped[position:])
        starts.append(kept)
        origins.append(position)
    return _Normalised("".join(pieces), tuple(starts), tuple(origins))


def normalise_copy(text: str) -> str:
    """The form terms and copy are compared in (for tests, and for people checking a term list)."""
    return _normalise(text).text


# --- the term list ---------------------------------------------------------------------------------------

def _text(value: object, path: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        got = "nothing" if value is None else f"{type(value).__name__} {value!r}"
        raise TermListError(path, f"expected text, got {got} (quote it in YAML)")
    return value.strip()


def _entry(raw: object, path: str, categories: Mapping[str, Mapping[str, Any]]) -> Term:
    if not isinstance(raw, Mapping):
        raise TermListError(path, "expected a mapping with term, category, severity, article")
    unknown = sorted(str(k) for k in raw if k not in _ENTRY_KEYS)
    if unknown:
        raise TermListError(f"{path}.{unknown[0]}", f"unknown field (known: {', '.join(sorted(_ENTRY_KEYS))})")
    term = _text(raw.get("term"), f"{path}.term")
    category = _text(raw.get("category"), f"{path}.category")
    defaults = categories.get(category, {})
    severity = _text(raw.get("severity"), f"{path}.severity")
    if severity not in SEVERITIES:
        raise TermListError(f"{path}.severity", f"{severity!r} is not one of block, warn")
    article_value = raw.get("article", defaults.get("article"))
    if article_value is None:
        raise TermListError(f"{path}.article", f"missing, and category {category!r} declares no article")
    article = _text(article_value, f"{path}.article")
    note = _text(raw.get("note", defaults.get("note")), f"{path}.note", required=False)
    exceptions_raw = raw.get("exceptions") or []
    if not isinstance(exceptions_raw, list):
        raise TermListError(f"{path}.exceptions", "expected a list of phrases")
    key = normalise_copy(term)
    if not key:
        raise TermListError(f"{path}.term", f"{term!r} is empty once separators are removed")
    exceptions: list[str] = []
    for j, phrase in enumerate(exceptions_raw):
        text = _text(phrase, f"{path}.exceptions[{j}]")
        if key not in normalise_copy(text):
            raise TermListError(f"{path}.exceptions[{j}]", f"{text!r} does not contain the term {term!r}")
        exceptions.append(text)
    return Term(term, category, severity, article, note, tuple(exceptions))


def load_terms(text: str) -> TermList:
    """A term list from YAML (or JSON): ``{version, categories: {name: {article, note}}, terms: [...]}``, or a
    bare list of entries. A category's article and note are the defaults of its entries."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise TermListError("(document)", f"not valid YAML or JSON: {exc}") from exc
    if isinstance(data, list):
        data = {"terms": data}
    if not isinstance(data, Mapping):
        raise TermListError("(document)", "expected a mapping with 'terms' (or a list of entries)")
    categories = data.get("categories") or {}
    if not isinstance(categories, Mapping) or not all(isinstance(v, Mapping) for v in categories.values()):
        raise TermListError("categories", "expected a mapping of category name to {article, note}")
    entries = data.get("terms")
    if not isinstance(entries, list) or not entries:
        raise TermListError("terms", "expected a non-empty list of entries")
    terms: list[Term] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(entries):
        term = _entry(raw, f"terms[{i}]", categories)
        key = normalise_copy(term.term)
        if key in seen:
            raise TermListError(f"terms[{i}].term", f"{term.term!r} repeats terms[{seen[key]}] (same once normalised)")
        seen[key] = i
        terms.append(term)
    version = data.get("version", "custom")
    return TermList(tuple(terms), str(version))


@cache
def default_terms() -> TermList:
    """The shipped list (domain/data/ad_terms.yaml)."""
    text = resources.files("touchflow.domain.data").joinpath("ad_terms.yaml").read_text(encoding="utf-8")
    return load_terms(text)


# --- scanning --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Key:
    length: int
    term: int  # index into the term list, -1 when the key is only an exception phrase
    covers: tuple[tuple[int, int], ...]  # (term index, offset of that term inside this exception phrase)


class ComplianceScanner:
    """One Aho–Corasick automaton over every normalised term and exception phrase, built once."""

    def __init__(self, terms: TermList) -> None:
        self.terms = terms
        keys: dict[str, tuple[int, list[tuple[int, int]]]] = {}
        for index, term in enumerate(terms.terms):
            key = normalise_copy(term.term)
            keys[key] = (index, keys.get(key, (-1, []))[1])
        for index, term in enumerate(terms.terms):
            key = normalise_copy(term.term)
            for phrase in term.exceptions:
                normal = normalise_copy(phrase)
                entry = keys.setdefault(normal, (-1, []))
                offset = normal.find(key)
                while offset >= 0:
                    entry[1].append((index, offset))
                    offset = normal.find(key, offset + 1)
        self._keys = {k: _Key(len(k), t, tuple(c)) for k, (t, c) in keys.items()}
        self._bounded = tuple((k[0] in _WORD, k[-1] in _WORD) for k in (normalise_copy(t.term) for t in terms.terms))
        self._automaton = ahocorasick.Automaton()
        for key, value in self._keys.items():
            self._automaton.add_word(key, value)
        self._automaton.make_automaton()

    def scan(self, text: str) -> list[Finding]:
        """Findings in order of position. A match inside a longer match is not reported (最高级, not also 最高);
        a match inside an exception phrase of its term is not reported (第一次)."""
        normal = _normalise(text)
        body = normal.text
        hits: list[tuple[int, int, int]] = []
        excused: set[tuple[int, int]] = set()
        for last, key in self._automaton.iter(body):
            begin = last + 1 - key.length
            if key.term >= 0:
                hits.append((begin, -key.length, key.term))
            for term, offset in key.covers:
                excused.add((term, begin + offset))
        hits.sort()
        findings: list[Finding] = []
        reach = -1
        for begin, negative_length, index in hits:
            end = begin - negative_length
            if (index, begin) in excused or end <= reach or not self._whole_word(body, begin, end, index):
                continue
            reach = end
            term = self.terms.terms[index]
            start, stop = normal.original(begin), normal.original(end - 1) + 1
            findings.append(Finding(term.term, term.category, term.severity, start, stop, term.article,
                                    text[start:stop]))
        return findings

    def _whole_word(self, body: str, begin: int, end: int, index: int) -> bool:
        """Latin and digit edges must be word edges: ``top1`` is not found in ``laptop1``, ``100%`` not in ``2100%``."""
        starts_word, ends_word = self._bounded[index]
        if starts_word and begin > 0 and body[begin - 1] in _WORD:
            return False
        return not (ends_word and end < len(body) and body[end] in _WORD)


@lru_cache(maxsize=8)
def _scanner(terms: TermList) -> ComplianceScanner:
    return ComplianceScanner(terms)


def scan_text(text: str, terms: TermList | None = None) -> list[Finding]:
    """Scan with the shipped list (or ``terms``); scanners are cached per term list."""
    return (_default_scanner() if terms is None else _scanner(terms)).scan(text)


@cache
def _default_scanner() -> ComplianceScanner:
    return ComplianceScanner(default_terms())  # no hashing of the whole list on every call


def blocking(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "block"]


# Categories whose words make copy medical or financial (G5: a person reviews it before it may be sent),
# whether or not the author tagged it. Medical: claims about illness, treatment, health food and cosmetics
# with a medical effect (广告法第十六至十八条); financial: returns and guarantees (第二十五条).
REVIEW_CATEGORIES: Mapping[str, str] = {
    "medical_claims": "medical",
    "health_food_claims": "medical",
    "cosmetics_claims": "medical",
    "finance": "finance",
    "false_promises": "finance",
}
