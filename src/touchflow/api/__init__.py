"""The HTTP API (FastAPI): ``create_app(application)``. OpenAPI docs at ``/docs``."""

from __future__ import annotations

from touchflow.api.app import create_app

__all__ = ["create_app"]
