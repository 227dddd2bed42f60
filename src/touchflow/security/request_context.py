"""Who is on the other end of the current request, for the audit log: request id, client IP, user agent.

The API middleware (``api/request_id.py``) and the CLI (``cli/audit.py``: ``cli-<uuid>``) set it; the store's
audit repository reads it when it writes a row. A context variable, so it follows the request into the
thread pool FastAPI runs sync handlers in, and never leaks between requests.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["RequestContext", "current_request", "new_request_id", "request_scope", "sane_request_id",
           "set_request"]

_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
USER_AGENT_MAX = 300


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip: str | None = None
    user_agent: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("touchflow_request", default=None)


def new_request_id(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex}"


def sane_request_id(given: str | None) -> str | None:
    """An incoming X-Request-ID is kept only if it is 1–64 characters of [A-Za-z0-9._-]."""
    return given if given is not None and _SANE_ID.fullmatch(given) else None


def current_request() -> RequestContext | None:
    return _current.get()


def set_request(context: RequestContext | None) -> None:
    """For a process that is one request (the CLI): the rest of the process acts under ``context``."""
    _current.set(context)


@contextmanager
def request_scope(context: RequestContext) -> Iterator[RequestContext]:
    token = _current.set(RequestContext(context.request_id, context.ip,
                                        (context.user_agent or "")[:USER_AGENT_MAX] or None))
    try:
        yield context
    finally:
        _current.reset(token)
