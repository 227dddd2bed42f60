"""The registry of connector kinds: what each kind needs (settings, secret names) and how it builds its dlt source.

A kind module calls ``register_kind`` at import; ``engine.connectors.KIND_MODULES`` lists those modules, so adding a
kind is one module and one line there. A builder gets a ``SourceRequest`` and returns a dlt resource (or source)
yielding dict rows; with a cursor it uses ``dlt.sources.incremental(cursor_field, initial_value=cursor_value)`` so
the pull starts at the last committed cursor. The pipeline (``engine.connectors.pipeline``) does the rest: mapping,
record kind, batches into ingest, the cursor committed with them.

A kind that does not pull rows through dlt (the drop folder imports whole files with the importer) registers a
``runner`` instead, and the run bookkeeping stays the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from touchflow.domain.connectors import RecordKind
from touchflow.domain.events import JSONValue

if TYPE_CHECKING:
    from touchflow.engine.connectors.outcome import RunContext, RunOutcome

__all__ = ["KindSpec", "SourceRequest", "TransientError", "get_kind", "kind_requirements", "kinds", "register_kind"]


@dataclass(frozen=True)
class SourceRequest:
    connector_name: str
    settings: Mapping[str, JSONValue]
    secrets: Mapping[str, str]  # unsealed, for this run only
    cursor_field: str | None
    cursor_value: JSONValue | None  # last committed
    record_kind: RecordKind
    extra: Mapping[str, Any] = field(default_factory=dict)  # what the runner hands a kind (e.g. a data dir)


class TransientError(RuntimeError):
    """Raised by a kind for a failure worth retrying (a 5xx, a 429, a timeout, a dropped connection)."""


Builder = Callable[[SourceRequest], Any]  # -> dlt resource or source yielding dict rows
Tester = Callable[[SourceRequest], None]


@dataclass(frozen=True)
class KindSpec:
    kind: str
    build: Builder | None
    required_settings: tuple[str, ...] = ()
    secret_names: tuple[str, ...] = ()
    test: Tester | None = None
    runner: Callable[[RunContext], RunOutcome] | None = None  # instead of build: runs the whole pull itself
    transient: tuple[type[BaseException], ...] = ()  # exceptions of this kind's library worth retrying


_KINDS: dict[str, KindSpec] = {}


def register_kind(kind: str, build: Builder | None, *, required_settings: tuple[str, ...] = (),
                  secret_names: tuple[str, ...] = (), test: Tester | None = None,
                  runner: Callable[[RunContext], RunOutcome] | None = None,
                  transient: tuple[type[BaseException], ...] = ()) -> None:
    """Register (or replace, on reload) a kind. Exactly one of ``build`` and ``runner``."""
    if (build is None) == (runner is None):
        raise ValueError(f"connector kind {kind!r}: give build or runner, not both or neither")
    _KINDS[kind] = KindSpec(kind, build, tuple(required_settings), tuple(secret_names), test, runner,
                            tuple(transient))


def get_kind(kind: str) -> KindSpec:
    from touchflow.engine.connectors import load_kinds

    load_kinds()
    try:
        return _KINDS[kind]
    except KeyError:
        raise LookupError(f"unknown connector kind {kind!r} (known: {', '.join(sorted(_KINDS))})") from None


def kinds() -> dict[str, KindSpec]:
    from touchflow.engine.connectors import load_kinds

    load_kinds()
    return dict(_KINDS)


def kind_requirements() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """kind -> (required settings, secret names): what ``validate_connector`` checks against."""
    return {k: (s.required_settings, s.secret_names) for k, s in kinds().items()}
