"""One connector run: take the lease, unseal the secrets, pull through the kind (dlt pipeline or the kind's own
runner), retry transient failures with back-off from the last committed cursor, record the run.

The lease row (``connectors.lease_owner``) keeps one run at a time per connector across workers; its owner is
``host:pid:token``, so a run on this host whose process died (SIGKILL) is taken over at once instead of waiting for
the lease to expire; elsewhere the lease expires after ``lease`` without a committed batch.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from touchflow.domain.connectors import DEFAULT_FAILURE_THRESHOLD, ConnectorRun
from touchflow.domain.events import JSONValue
from touchflow.engine.connectors.kinds import KindSpec, SourceRequest, TransientError, get_kind
from touchflow.engine.connectors.outcome import RunContext, RunFailed, RunOutcome
from touchflow.engine.connectors.pipeline import run_pipeline
from touchflow.services.connectors import commit_cursor, finish_run, get_connector, keep_lease, start_run
from touchflow.services.context import ServiceContext

__all__ = ["OpenSecret", "RunOptions", "is_transient", "owner_token", "run_connector", "test_connector"]

log = logging.getLogger(__name__)

OpenSecret = Callable[[str, str], dict[str, Any]]  # (sealed, context) -> secrets (SecretBox.open)
_PERMANENT_WORDS = ("no such table", "does not exist", "doesn't exist", "unknown column", "syntax error",
                    "permission denied", "access denied", "authentication failed")


@dataclass(frozen=True)
class RunOptions:
    batch_size: int = 2000
    work_dir: Path | None = None  # dlt's working dir goes under it (a temporary dir when None)
    retries: int = 3  # transient failures retried per run
    backoff_s: float = 2.0  # 2 s, 4 s, 8 s …
    lease: timedelta = timedelta(minutes=10)
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    sleep: Callable[[float], None] = time.sleep


def owner_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_owner(owner: str | None) -> str | None:
    """``owner`` when it is a process of this host that no longer exists (its lease can be taken now)."""
    if owner is None:
        return None
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return owner
    except PermissionError:
        return None
    return None


def is_transient(exc: BaseException, spec: KindSpec | None = None) -> bool:
    """Worth another try: the kind says so, a timeout, a connection dropped or refused (not a missing table)."""
    if isinstance(exc, TransientError | TimeoutError | ConnectionError):
        return True
    if spec is not None and spec.transient and isinstance(exc, spec.transient):
        return True
    if isinstance(exc, OperationalError | InterfaceError) or (
            isinstance(exc, DBAPIError) and exc.connection_invalidated):
        text = str(exc).lower()
        return not any(word in text for word in _PERMANENT_WORDS)
    return False


def _request(ctx: ServiceContext, name: str, secrets: dict[str, Any], extra: dict[str, Any]) -> SourceRequest:
    connector = get_connector(ctx, name)  # the committed cursor as it is now (a retry starts there)
    return SourceRequest(connector.name, dict(connector.settings), {k: str(v) for k, v in secrets.items()},
                         connector.cursor, connector.cursor_value, connector.record_kind, extra)


def _secrets(open_secret: OpenSecret | None, sealed: str | None, name: str) -> dict[str, Any]:
    if sealed is None:
        return {}
    if open_secret is None:
        raise RunFailed("the connector has a sealed secret but no key ring was given to open it")
    return open_secret(sealed, f"connector:{name}")


def _pull(ctx: ServiceContext, spec: KindSpec, request: SourceRequest, commit: Callable[[JSONValue, Any], None],
          options: RunOptions, keep_alive: Callable[[], None]) -> RunOutcome:
    connector = get_connector(ctx, request.connector_name)
    run = RunContext(ctx, connector, request, commit, options.batch_size, options.work_dir,
                     route=connector.schedule == "realtime", keep_alive=keep_alive)
    if spec.runner is not None:
        return spec.runner(run)
    assert spec.build is not None
    return run_pipeline(run, spec.build(request))


def run_connector(ctx: ServiceContext, name: str, *, actor: str, trigger: str = "manual",
                  open_secret: OpenSecret | None = None, options: RunOptions | None = None,
                  owner: str | None = None) -> ConnectorRun:
    """Run ``name`` once and return the recorded run (succeeded or failed: a failure is recorded, not raised).
    Raises ConnectorNotFound, or ConnectorBusy when another process holds its lease."""
    options = options or RunOptions()
    owner = owner or owner_token()
    with ctx.reader() as uow:
        holder, _ = uow.connectors.lease_owner(name)
    connector, run = start_run(ctx, name, owner, trigger=trigger, actor=actor, lease=options.lease,
                               steal_from=_dead_owner(holder))
    outcome = RunOutcome(cursor_after=connector.cursor_value)
    status, error = "succeeded", None
    retried = 0
    try:
        spec = get_kind(connector.kind)
        secrets = _secrets(open_secret, connector.secret, name)
        extra = {"work_dir": options.work_dir}

        def commit(value: JSONValue, columns: Any) -> None:
            commit_cursor(ctx, name, owner, value, columns, options.lease)

        while True:
            try:
                outcome = _pull(ctx, spec, _request(ctx, name, secrets, extra), commit, options,
                                lambda: keep_lease(ctx, name, owner, options.lease))
                break
            except RunFailed:
                raise
            except Exception as exc:
                if retried >= options.retries or not is_transient(exc, spec):
                    raise
                retried += 1
                log.warning("connector %s: transient failure (%s), retry %d in %.1fs", name, exc, retried,
                            options.backoff_s * 2 ** (retried - 1))
                options.sleep(options.backoff_s * 2 ** (retried - 1))
    except RunFailed as exc:
        status, error, outcome = "failed", str(exc), exc.outcome
    except Exception as exc:  # recorded on the run: the worker goes on with the next connector
        log.exception("connector %s run failed", name)
        status, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
    latest = get_connector(ctx, name)
    done = replace(run, status=status, error=error, read=outcome.read, accepted=outcome.accepted,  # type: ignore[arg-type]
                   rejected=outcome.rejected, retried=retried + outcome.retried, warnings=tuple(outcome.warnings),
                   cursor_after=latest.cursor_value, details=dict(outcome.details))
    return finish_run(ctx, done, owner, threshold=options.failure_threshold)


def test_connector(ctx: ServiceContext, name: str, *, open_secret: OpenSecret | None = None,
                   work_dir: Path | None = None) -> str:
    """Check the connector can reach its source (the kind's test, or building its source); stores nothing.
    Returns a short description; raises the source's error."""
    connector = get_connector(ctx, name)
    spec = get_kind(connector.kind)
    secrets = _secrets(open_secret, connector.secret, name)
    request = _request(ctx, name, secrets, {"work_dir": work_dir})
    if spec.test is not None:
        spec.test(request)
        return f"{connector.kind}: reachable"
    if spec.build is not None:
        spec.build(request)
    return f"{connector.kind}: configuration accepted"
