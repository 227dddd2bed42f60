"""The web console (issue 15): server-rendered pages for the people the spec is written for.

An entry point like ``api`` and ``cli``: views parse the request, call services and render Jinja2 templates
(htmx for partial updates, Tabler for the look, vega-embed for charts, all vendored under ``static/vendor``).
``install(app)`` mounts it on the API's FastAPI app at ``/`` (the API keeps ``/v1``, OpenAPI ``/docs``).
See docs/subsystems/console.md and ADR 0037.
"""

from __future__ import annotations

from fastapi import FastAPI

from touchflow.console import static
from touchflow.console.auth import install_handlers
from touchflow.console.views import (
    account,
    assets,
    builder,
    connectors,
    contacts,
    content,
    duplicates,
    home,
    imports,
    journey_runs,
    journey_versions,
    lifecycle,
    login,
    measure,
    measure_experiments,
    measure_reports,
    segments,
    settings_access,
    settings_approvals,
    settings_audit,
    settings_config,
    settings_incidents,
    settings_users,
    work,
)

__all__ = ["OWN_BODY_LIMITS", "install"]

# Paths that enforce their own body limit instead of the API's 16 MiB: they write the body to disk as it arrives
# (the import upload: 50 MB, an asset: 5 MB, each refused with a 413 page naming the limit — views/upload_stream.py).
OWN_BODY_LIMITS = ("/imports", "/content/assets")

# One router per page area; an area added here appears at its own paths (nav.py lists what the sidebar shows).
# duplicates before contacts: its /contacts/duplicates and /contacts/compare would match /contacts/{contact_id}.
_AREAS = (static, login, account, home, duplicates, contacts, work, builder, content, assets, segments, imports,
          measure, measure_reports, measure_experiments, settings_approvals, settings_access, settings_audit,
          settings_incidents, settings_config, lifecycle, connectors, journey_runs, journey_versions, settings_users)


def install(app: FastAPI) -> None:
    """Mount the console's routes and its error pages (login redirect, HTML 403) on ``app``."""
    install_handlers(app)
    for module in _AREAS:
        app.include_router(module.router)
