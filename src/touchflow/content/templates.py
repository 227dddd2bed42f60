"""Marketer-written templates in Liquid, sandboxed: no files, no Python attributes, bounded loops and output.

Templates see plain data only (``contact_context`` builds it): dicts, lists, strings and numbers. Python
Liquid resolves ``a.b`` by item lookup, never ``getattr``, so ``{{ x.__class__ }}`` renders empty. Partials
(``{% render 'footer' %}``) come from an in-memory mapping the caller supplies, never the file system.

Dynamic blocks (C3, C4) are plain Liquid::

    {% if contact.stage == "new_visitor" %}行业白皮书 …
    {% elsif contact.stage == "intent" %}客户案例 + 试用邀请 …
    {% elsif contact.is_customer %}使用技巧 + 复购优惠 …{% endif %}
    {% if contact.high_value %}VIP 专属 …{% else %}…{% endif %}
    {% for p in recommendations %}<a href="{{ p.url }}">{{ p.name }}</a> ¥{{ p.price }}{% endfor %}
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from liquid import BoundTemplate, DictLoader, Environment, Undefined
from liquid.exceptions import LiquidError, ResourceLimitError, TemplateNotFoundError
from liquid.token import Token

from touchflow.content.context import CONTEXT_NAMES, contact_context

__all__ = ["ContentRenderer", "PlainContext", "RenderResult", "TemplateError", "contact_context", "plain_context",
           "plain_data"]

_UNDEFINED_SEEN: ContextVar[list[str] | None] = ContextVar("touchflow_undefined_seen", default=None)


class TemplateError(Exception):
    """A template that cannot be parsed or rendered; the message names the template and the line."""

    def __init__(self, name: str, line: int | None, reason: str) -> None:
        where = f"{name}, line {line}" if line else name
        super().__init__(f"{where}: {reason}")
        self.name = name
        self.line = line
        self.reason = reason


class _RecordingUndefined(Undefined):
    """Renders as empty (a missing city must not break a send) and notes the name for ``render_report``."""

    __slots__ = ()

    def __init__(self, name: str, *, token: Token | None = None, obj: object = None,
                 hint: str | None = None) -> None:
        super().__init__(name, token=token, hint=hint)
        seen = _UNDEFINED_SEEN.get()
        if seen is None or token is None:  # no token: Liquid's own probing (forloop.parentloop …)
            return
        path = hint.removesuffix(" is undefined").strip("'") if hint and hint.endswith(" is undefined") else name
        if path not in seen:
            seen.append(path)


class _Sandbox(Environment):
    loop_iteration_limit: ClassVar[int | None] = 10_000
    output_stream_limit: ClassVar[int | None] = 512 * 1024  # characters of one rendered part
    context_depth_limit: ClassVar[int] = 10  # nested render/include
    local_namespace_limit: ClassVar[int | None] = 64 * 1024  # bytes held by {% assign %}/{% capture %}


@dataclass(frozen=True)
class RenderResult:
    text: str
    undefined: tuple[str, ...]  # variables the template used that this context lacks


class ContentRenderer:
    """Parses and renders templates; parsed templates are cached by (name, source hash, escaping)."""

    def __init__(self, partials: Mapping[str, str] | None = None, *, cache_size: int = 512) -> None:
        loader = DictLoader(dict(partials or {}))
        self._plain = _Sandbox(loader=loader, undefined=_RecordingUndefined)
        self._escaped = _Sandbox(loader=loader, undefined=_RecordingUndefined, autoescape=True)
        self._cache: OrderedDict[tuple[str, str, bool], BoundTemplate] = OrderedDict()
        self._cache_size = cache_size

    def _parse(self, source: str, name: str, html: bool) -> BoundTemplate:
        key = (name, hashlib.sha256(source.encode()).hexdigest(), html)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        env = self._escaped if html else self._plain
        try:
            template = env.from_string(source, name=name)
        except LiquidError as exc:
            raise _error(name, exc, source) from None
        self._cache[key] = template
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return template

    def render(self, source: str, context: Mapping[str, Any], *, name: str = "template", html: bool = False) -> str:
        """``source`` rendered with ``context``; values are HTML-escaped when ``html``. Undefined → empty."""
        return self.render_report(source, context, name=name, html=html).text

    def render_report(self, source: str, context: Mapping[str, Any], *, name: str = "template",
                      html: bool = False) -> RenderResult:
        """Like ``render``, also naming the variables that were undefined for this context (for previews)."""
        template = self._parse(source, name, html)
        with _collect_undefined() as seen:
            try:
                text = template.render(**plain_context(context))
            except ResourceLimitError as exc:
                raise _error(name, exc, source, "template too heavy: ") from None
            except LiquidError as exc:
                raise _error(name, exc, source) from None
            except RecursionError:
                raise TemplateError(name, None, "template nests too deeply") from None
        return RenderResult(text, tuple(seen))

    def variables(self, source: str, name: str = "template") -> set[str]:
        """Root names of the variables the template reads from its context (``contact``, ``unsubscribe_url``…)."""
        return set(self._parse(source, name, False).global_variables())

    def check(self, source: str, name: str = "template", *,
              known: Collection[str] | None = CONTEXT_NAMES) -> list[str]:
        """Problems an editor should fix before saving: syntax, unknown filters, unknown partials, and (when
        ``known`` is given) variables outside what templates are handed. Empty when the template is sound."""
        try:
            template = self._parse(source, name, False)
        except TemplateError as exc:
            return [str(exc)]
        problems: list[str] = []
        try:
            template.analyze(include_partials=True)
        except LiquidError as exc:  # a partial that does not exist or does not parse
            problems.append(str(_error(name, exc, source)))
        analysis = template.analyze(include_partials=False)
        for filter_name, spans in sorted(analysis.filters.items()):
            if filter_name not in self._plain.filters:
                line = spans[0].line_col(source)[0] if spans else None
                problems.append(str(TemplateError(name, line, f"unknown filter {filter_name!r}")))
        if known is not None:
            for root, uses in sorted(analysis.globals.items()):
                if root not in known and uses:
                    line = uses[0].span.line_col(source)[0]
                    problems.append(str(TemplateError(name, line, f"unknown variable {str(uses[0])!r} "
                                                                  f"(templates see: {', '.join(sorted(known))})")))
        return problems


@contextmanager
def _collect_undefined() -> Iterator[list[str]]:
    seen: list[str] = []
    token = _UNDEFINED_SEEN.set(seen)
    try:
        yield seen
    finally:
        _UNDEFINED_SEEN.reset(token)


def _error(name: str, exc: LiquidError, source: str, prefix: str = "") -> TemplateError:
    reason = prefix + str(exc.message)
    if isinstance(exc, TemplateNotFoundError):
        reason = f"partial '{exc.message!s}' not found"
    context = exc.context()  # (line, column, …) in the template or partial the token came from
    if exc.token is not None and exc.token.source != source and exc.template_name:
        reason = f"in partial {exc.template_name!r}: {reason}"
    line = context[0] if context else None
    if line is None and "end of" in reason:  # an unclosed block is noticed at the last line
        line = source.count("\n") + 1
    return TemplateError(name, line, reason)


class PlainContext(dict[str, Any]):
    """A context already passed through ``plain_data``: rendering it again skips the conversion.

    Adding plain values (strings, numbers) to a copy keeps it plain: ``PlainContext({**ctx, "x": "y"})``.
    """


def plain_context(context: Mapping[str, Any]) -> PlainContext:
    return context if isinstance(context, PlainContext) else PlainContext(plain_data(context))


def plain_data(value: Any, depth: int = 0) -> Any:
    """Only JSON-like data reaches a template: no Python object, method or attribute is reachable."""
    if depth > 20:
        return None
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain_data(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain_data(v, depth + 1) for v in value]
    return str(value)
