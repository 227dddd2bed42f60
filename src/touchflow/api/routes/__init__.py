"""What every route shares: per-app state, errors, the request source, body reading and JSON answers."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, ParamSpec, TypeVar

import orjson
from fastapi import Header, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.auth import ApiKeyCache
from touchflow.api.schemas import INT64, readable_reason
from touchflow.domain.errors import FieldError, RecordRejected
from touchflow.domain.sources import default_source
from touchflow.services.context import ServiceContext
from touchflow.services.group_commit import GroupCommitter
from touchflow.services.ingest import EventBatchReport, ItemProblem, RawItem, event_batch_work

__all__ = [
    "MAX_BODY_BYTES",
    "PARSE_CRASHES",
    "ApiError",
    "ApiState",
    "SourceHeader",
    "SourceQuery",
    "api_state",
    "crashing_items",
    "has_nul",
    "json_response",
    "pick_source",
    "problem_json",
    "read_body",
    "validation_problems",
]

MAX_BODY_BYTES = 16 * 1024 * 1024

# What a domain parser raises when a value slips past its checks (it should raise FieldError instead).
PARSE_CRASHES = (TypeError, AttributeError, ArithmeticError, ValueError, KeyError, IndexError)

P = ParamSpec("P")
T = TypeVar("T")


class ApiError(Exception):
    """A 4xx answer with a readable ``detail`` and, where it applies, the fields at fault."""

    def __init__(self, status_code: int, detail: str, errors: list[dict[str, str | None]] | None = None) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.errors = errors or []


@dataclass
class ApiState:
    """Built once by ``create_app``; reached from a request as ``request.app.state.touchflow``."""

    services: ServiceContext
    api_keys: ApiKeyCache
    write_slots: int = 1  # concurrent write transactions per process (1 on SQLite: it has one writer)
    group_events: int = 2000  # events per shared ingest transaction (group commit, ADR 0046)
    _gate: threading.BoundedSemaphore = field(init=False, repr=False)
    events: GroupCommitter[EventBatchReport] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._gate = threading.BoundedSemaphore(max(self.write_slots, 1))
        self.events = GroupCommitter(self.services, self._gate, self.group_events)

    async def write_events(self, source: str, items: list[RawItem]) -> EventBatchReport:
        """``record_events`` through group commit: validated here, written in a transaction shared with the
        requests that arrived meanwhile, answered after that transaction committed."""
        def submit() -> EventBatchReport:
            return self.events.run(event_batch_work(self.services, source, items), len(items))

        return await run_in_threadpool(submit)

    async def write(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking write use case in the threadpool, queued in-process rather than on a DB lock.

        On SQLite writers otherwise wait for each other inside ``busy_timeout``, which polls with
        growing sleeps and turns contention into tail latency.
        """
        def gated() -> T:
            with self._gate:
                return work(*args, **kwargs)

        return await run_in_threadpool(gated)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    too_big = ApiError(413, f"body over {limit // (1024 * 1024)} MiB; send smaller batches")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def json_response(data: object, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    try:
        content = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # an integer beyond 64 bits (PostgreSQL's JSONB prints 1e30 as one): send it as a float
        content = orjson.dumps(_wide_ints_as_floats(data), option=orjson.OPT_NON_STR_KEYS)
    return Response(content, status_code=status_code, media_type="application/json", headers=headers)


def _wide_ints_as_floats(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool) and value not in INT64:
        return float(value)
    if isinstance(value, dict):
        return {k: _wide_ints_as_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wide_ints_as_floats(v) for v in value]
    return value


def problem_json(problem: ItemProblem) -> dict[str, object]:
    return {"index": problem.index, "field": problem.field, "reason": problem.reason}


def validation_problems(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[dict[str, str]]:
    """Pydantic errors as ``{"field", "reason"}`` pairs with dotted field paths."""
    out: list[dict[str, str]] = []
    for error in exc.errors(include_url=False):
        loc = (*prefix, *error["loc"])
        reason = readable_reason(error)
        if error["type"] == "extra_forbidden":
            reason = "unknown field (identities and standard attributes are top-level keys; put anything " \
                     "else under 'attributes')"
        out.append({"field": ".".join(str(p) for p in loc) or "body", "reason": reason})
    return out


def api_state(request: Request) -> ApiState:
    state = request.app.state.touchflow
    assert isinstance(state, ApiState)
    return state


_SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
SourceQuery = Annotated[str | None, Query(description="data source name (default: api); the header works too")]
SourceHeader = Annotated[str | None, Header(alias="X-Touchflow-Source", description="data source name")]


def pick_source(query: str | None, header: str | None) -> str:
    """The request's data source: ``?source=``, else ``X-Touchflow-Source``, else ``api``."""
    name = (query or header or "api").strip()
    if not _SOURCE_NAME.fullmatch(name):
        raise ApiError(422, f"source: invalid name {name!r} (letters, digits, _ . : -; at most 100)",
                       [{"field": "source", "reason": "invalid name"}])
    if default_source(name).kind == "manual":  # would outrank every source, as a person's edit does
        raise ApiError(422, f"source: {name!r} is reserved for edits by hand; use PATCH /v1/contacts/{{id}}",
                       [{"field": "source", "reason": "reserved"}])
    return name


def crashing_items(items: Sequence[RawItem],
                   parse: Callable[[Mapping[str, object]], object]) -> dict[int, tuple[str | None, str]]:
    """The items on which ``parse`` crashes instead of rejecting them: position → (field, reason).

    Used only after a batch failed, so that one unreadable value costs its own item, not the batch.
    The field is the top-level key without which the item parses, when there is one.
    """
    bad: dict[int, tuple[str | None, str]] = {}
    for index, item in enumerate(items):
        crash = _crash(parse, item.payload)
        if crash is None:
            continue
        field = next((key for key in item.payload
                      if _parses(parse, {k: v for k, v in item.payload.items() if k != key})), None)
        bad[index] = (field, f"the value could not be read ({crash})")
    return bad


def _crash(parse: Callable[[Mapping[str, object]], object], payload: Mapping[str, object]) -> Exception | None:
    try:
        parse(payload)
    except (FieldError, RecordRejected):
        return None
    except PARSE_CRASHES as exc:
        return exc
    return None


def _parses(parse: Callable[[Mapping[str, object]], object], payload: Mapping[str, object]) -> bool:
    try:
        parse(payload)
    except PARSE_CRASHES:  # FieldError and RecordRejected are ValueErrors too
        return False
    return True


def has_nul(value: object) -> bool:
    """True when some text in a JSON value holds U+0000, which PostgreSQL cannot store.

    Iterative: a body may nest a thousand levels deep before its depth is refused.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
