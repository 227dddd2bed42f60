"""Connectors' runtime: the kind registry, the dlt pipeline into ingest, the runner and the worker's pass.

``KIND_MODULES`` is the one list of kind modules; each registers its kind on import (``kinds.register_kind``).
"""

from __future__ import annotations

import importlib

__all__ = ["KIND_MODULES", "load_kinds"]

KIND_MODULES: tuple[str, ...] = (
    "touchflow.engine.connectors.sql",
    "touchflow.engine.connectors.drop_folder",
    "touchflow.engine.connectors.remote_kinds",
    "touchflow.engine.connectors.webhook_inbound",
)

_loaded = False


def load_kinds() -> None:
    """Import every kind module once (each registers itself)."""
    global _loaded
    if _loaded:
        return
    for module in KIND_MODULES:
        importlib.import_module(module)
    _loaded = True
