"""One retrying HTTP session per run, from dlt's own requests helper, and the settings readers kinds share.

dlt's ``Client`` retries 5xx, 429 and connection errors with exponential back-off and honours ``Retry-After``;
we only choose the numbers per connector (``timeout_s``, ``max_attempts``, ``backoff_s``, ``max_delay_s``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dlt.sources.helpers.requests import Client, Response, Session

from touchflow.domain.errors import FieldError
from touchflow.domain.events import JSONValue

__all__ = ["retrying_session", "setting_int", "setting_str", "setting_str_or"]

RetryPredicate = Callable[[Response | None, BaseException | None], bool]


def retrying_session(settings: Mapping[str, JSONValue], *, retry_if: RetryPredicate | None = None) -> Session:
    """A session that retries transient failures; ``retry_if`` adds provider rules (errcode 45009 and the like)."""
    client = Client(
        request_timeout=float(setting_int(settings, "timeout_s", 30, low=1, high=600)),
        request_max_attempts=setting_int(settings, "max_attempts", 5, low=1, high=20),
        request_backoff_factor=float(setting_int(settings, "backoff_s", 1, low=0, high=60)),
        request_max_retry_delay=float(setting_int(settings, "max_delay_s", 60, low=0, high=3600)),
        retry_condition=retry_if,
        raise_for_status=False,  # the REST client raises after its own checks
    )
    session: Session = client.session
    return session


def setting_str(settings: Mapping[str, JSONValue], name: str) -> str:
    value = settings.get(name)
    if not isinstance(value, str) or not value.strip():
        raise FieldError(name, "required text setting")
    return value.strip()


def setting_str_or(settings: Mapping[str, JSONValue], name: str, default: str) -> str:
    return setting_str(settings, name) if settings.get(name) not in (None, "") else default


def setting_int(settings: Mapping[str, JSONValue], name: str, default: int, *, low: int, high: int) -> int:
    value: Any = settings.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FieldError(name, f"must be a whole number from {low} to {high}")
    return int(value)
