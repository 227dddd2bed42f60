"""The connectors card of the sources page (D2, A6): each connector with its kind, schedule, state, last runs, the
last error and its sync success rate; run now, pause and resume it — what ``touchflow connector run|pause|resume``
does, through the same service (``services/connectors.py``), audited with the signed-in person as actor.

"Run now" asks the worker to run the connector at its next pass (as the API does): a pull may take minutes, a
page must not wait for it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.api.routes import api_state
from touchflow.console.auth import Me, allow, services
from touchflow.console.views.settings_support import back
from touchflow.services.connectors import (
    ConnectorNotFound,
    connector_summaries,
    request_run,
    set_connector_status,
    show_connector,
)

__all__ = ["connectors_context", "router"]

router = APIRouter()
RECENT_RUNS = 5
_NAME_LIMIT = 100


def connectors_context(request: Request) -> list[dict[str, Any]]:
    """Blocking (call it in the threadpool): every connector, its summary and its last few runs, newest first."""
    ctx = services(request)
    rows: list[dict[str, Any]] = []
    for summary in connector_summaries(ctx):
        _, runs = show_connector(ctx, summary.connector.name, RECENT_RUNS)
        last_error = next((r.error for r in runs if r.error), None)
        rows.append({"s": summary, "c": summary.connector, "runs": runs, "last_error": last_error})
    return rows


async def _act(request: Request, me: Me, name: str, action: str) -> Response:
    state = api_state(request)
    actor = me.principal.actor.label
    name = name[:_NAME_LIMIT]
    try:
        if action == "run":
            await state.write(request_run, state.services, name, actor=actor)
        else:
            await state.write(set_connector_status, state.services, name,
                              "paused" if action == "pause" else "active", actor=actor)
    except ConnectorNotFound:
        return back("/imports", connector_error="not_found", connector=name)
    except ValueError:  # run now on a paused connector
        return back("/imports", connector_error="paused", connector=name)
    return back("/imports", connector_done=action, connector=name)


@router.post("/imports/connectors/{name}/run", **allow("connectors.manage"))
async def run_now(request: Request, me: Me, name: str) -> Response:
    return await _act(request, me, name, "run")


@router.post("/imports/connectors/{name}/pause", **allow("connectors.manage"))
async def pause(request: Request, me: Me, name: str) -> Response:
    return await _act(request, me, name, "pause")


@router.post("/imports/connectors/{name}/resume", **allow("connectors.manage"))
async def resume(request: Request, me: Me, name: str) -> Response:
    return await _act(request, me, name, "resume")


async def load(request: Request) -> list[dict[str, Any]]:
    return await run_in_threadpool(connectors_context, request)
