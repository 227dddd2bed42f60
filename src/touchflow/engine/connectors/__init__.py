"""Connector kinds: dlt sources that feed the ingest use cases. Importing the package registers every kind."""

from __future__ import annotations

import importlib

from touchflow.engine.connectors.kinds import Kind, SourceRequest, get_kind, kinds, register_kind

__all__ = ["KIND_MODULES", "Kind", "SourceRequest", "get_kind", "kinds", "register_kind"]

KIND_MODULES: tuple[str, ...] = (
    "touchflow.engine.connectors.rest_presets",
    "touchflow.engine.connectors.wecom_source",
    "touchflow.engine.connectors.wechat_source",
)

for _module in KIND_MODULES:
    importlib.import_module(_module)
