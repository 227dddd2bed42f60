"""The registry of connector kinds: each kind turns a ``SourceRequest`` into a dlt source or resource.

A kind module calls ``register_kind`` at import; ``KIND_MODULES`` in this package lists the modules so the
registry is complete once the package is imported (no plugin discovery, no import side effects elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from touchflow.domain.events import JSONValue

__all__ = ["Kind", "SourceRequest", "get_kind", "kinds", "register_kind"]


@dataclass(frozen=True)
class SourceRequest:
    """What a builder needs for one run: settings, unsealed secrets and the last committed cursor."""

    connector_name: str
    settings: Mapping[str, JSONValue]
    secrets: Mapping[str, str]
    cursor_field: str | None
    cursor_value: JSONValue | None
    record_kind: Literal["contacts", "events"]


Builder = Callable[[SourceRequest], Any]  # returns a dlt source or resource yielding dict rows


@dataclass(frozen=True)
class Kind:
    name: str
    build: Builder
    required_settings: tuple[str, ...] = ()
    secret_names: tuple[str, ...] = ()
    test: Callable[[SourceRequest], None] | None = None


_KINDS: dict[str, Kind] = {}


def register_kind(kind: str, build: Builder, *, required_settings: tuple[str, ...] = (),
                  secret_names: tuple[str, ...] = (), test: Callable[[SourceRequest], None] | None = None) -> None:
    _KINDS[kind] = Kind(kind, build, required_settings, secret_names, test)


def get_kind(kind: str) -> Kind:
    try:
        return _KINDS[kind]
    except KeyError:
        raise KeyError(f"unknown connector kind {kind!r} (known: {', '.join(sorted(_KINDS))})") from None


def kinds() -> dict[str, Kind]:
    return dict(_KINDS)
