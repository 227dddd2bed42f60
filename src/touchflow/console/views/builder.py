"""``/journeys/{key}/builder``: the visual journey builder (issue 16), a React island on a console page.

The page hands the island what it cannot fetch itself: the journey key, the session's CSRF token, what the
reader may do (a viewer gets a read-only canvas), the journey JSON Schema (palette and side panel are
generated from it) and every label translated from the console's catalogs; and, so the canvas draws without
a request, the draft, its graph and its findings. Everything else goes through the ``/v1/journeys``
builder API with the session cookie.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from touchflow.console.auth import Me, allow, services
from touchflow.console.i18n import N_, translations
from touchflow.console.templating import render
from touchflow.console.views.builder_dry_labels import DRY_LABELS
from touchflow.console.views.builder_live_labels import LIVE_LABELS
from touchflow.console.views.builder_ux_labels import UX_LABELS
from touchflow.domain.journeys.schema import journey_json_schema
from touchflow.services.journey_drafts import open_draft
from touchflow.services.journeys import JourneyError

__all__ = ["LABELS", "router"]

router = APIRouter()
JourneyKey = Annotated[str, Path(max_length=64, pattern=r"^[a-z][a-z0-9_\-]{0,63}$")]

LABELS = {
    "add_node": N_("Add a node"), "kind": N_("Kind"), "node_id": N_("Node id"), "add": N_("Add"),
    "connect": N_("Connect"), "from": N_("From"), "edge": N_("Way out"), "to": N_("To"), "apply": N_("Apply"),
    "delete_node": N_("Delete node"), "node": N_("Node"), "settings": N_("Journey settings"),
    "findings": N_("Findings"), "errors": N_("errors"), "no_errors": N_("No errors"), "failed": N_("Failed"),
    "new_journey": N_("A new journey"), "undone": N_("Undone"), "redone": N_("Redone"), "undo": N_("Undo"),
    "redo": N_("Redo"), "auto_layout": N_("Auto-layout"), "fit": N_("Zoom to fit"), "search": N_("Find a node"),
    "found": N_("Found"), "not_found": N_("No such node"), "save": N_("Save draft"), "saved": N_("Draft saved"),
    "diff": N_("Changes against the live version"), "publish": N_("Publish"), "published": N_("Published"),
    "conflict": N_("Someone else saved this journey meanwhile: merge and save again"),
    "theirs": N_("Their version (saved)"), "yours": N_("Your version"), "save_merged": N_("Save my merged version"),
    "take_theirs": N_("Take their version"), "took_theirs": N_("Took their version"), "laid_out": N_("Laid out"),
    "added": N_("Added"), "connected": N_("Connected"), "moved": N_("Moved"), "deleted": N_("Deleted"),
    "changed": N_("Changed"), "palette": N_("Node kinds"), "canvas": N_("Journey canvas"),
    "panel": N_("Details"), "toolbar": N_("Builder tools"), "minimap": N_("Overview map"),
    "kind.send": N_("Send a message"), "kind.wait": N_("Wait"), "kind.wait_event": N_("Wait for an event"),
    "kind.branch": N_("Branch"), "kind.split": N_("Split"), "kind.update_contact": N_("Update contact"),
    "kind.task": N_("Task for a person"), "kind.webhook": N_("Webhook"), "kind.enrol": N_("Enrol in a journey"),
    "kind.exit": N_("Exit"),
    "dry_run": N_("Dry run"), "dry_contact": N_("Contact (email:…, phone:… or id)"), "dry_go": N_("Run"),
    "dry_clear": N_("Clear"), "dry_running": N_("Running in the sandbox…"), "dry_done": N_("Dry run done"),
    "dry_nodes": N_("nodes reached"), "dry_at": N_("When (virtual time)"),
    "dry_note": N_("Virtual time in the sandbox: nothing was sent or written"),
    "sim_scenario": N_("Scenario of personas (YAML, as journey simulate takes it)"), "sim_go": N_("Run the scenario"),
    "sim_done": N_("Scenario run"), "sim_passed": N_("checks passed"), "sim_failed": N_("checks failed"),
    "sim_entered": N_("entered"), "sim_waiting": N_("waiting"),
    "diff_added": N_("Added (green)"), "diff_changed": N_("Changed (amber)"),
    "diff_removed": N_("Removed (red, struck through)"), "diff_empty": N_("No changes against the live version"),
    "yaml_diff": N_("YAML diff"), "publish_confirm": N_("Publish these changes as a new version"),
    "publish_blocked": N_("Publishing waits until every error is fixed"), "diff_close": N_("Close the diff"),
    "review_first": N_("The changes are drawn on the canvas: check them, then publish"),
    "versions": N_("Versions"), "version_live": N_("live"), "version_running": N_("contacts running:"),
    "restore": N_("Restore as draft"), "restored": N_("Restored"),
    "restore_then_publish": N_("It is the draft now; publish it to make a new version (contacts already in the "
                               "journey finish on theirs)"),
}


def _initial(request: Request, key: str) -> dict[str, Any] | None:
    """The draft as ``GET /v1/journeys/{key}/definition`` answers it and its findings as ``POST /v1/journeys/lint``
    does, in the page: the island draws them at once instead of asking after its script ran (time to
    interactive). None: a new journey."""
    try:
        draft, graph, findings = open_draft(services(request), key)
    except JourneyError:
        return None
    return {"key": draft.key, "text": draft.text, "token": draft.token, "live_version": draft.live_version,
            "is_draft": draft.is_draft, "graph": graph, "findings": [f.as_json() for f in findings]}


@router.get("/journeys/{key}/builder", **allow("journeys.read"))
async def builder_page(request: Request, me: Me, key: JourneyKey) -> Response:
    words = translations(me.preferences.locale)
    config = {"key": key, "csrf": me.csrf_token, "canWrite": me.can("journeys.write"),
              "canPublish": me.can("journeys.publish"), "schema": journey_json_schema(),
              "labels": {name: words.gettext(text)
                         for name, text in (LABELS | LIVE_LABELS | DRY_LABELS | UX_LABELS).items()},
              "initial": await run_in_threadpool(_initial, request, key)}
    return render(request, me, "builder.html", {"title": N_("Journey builder"), "key": key, "config": config})
