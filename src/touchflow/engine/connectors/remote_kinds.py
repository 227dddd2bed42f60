"""Registration of the remote kinds (``rest_api``, ``wecom_contacts``, ``wechat_followers``) without importing dlt.

The builders live in ``rest_presets``, ``wecom_source`` and ``wechat_source``, which import dlt; they are imported
when a run builds its source, so a CLI command that only lists kinds does not pay for dlt.
"""

from __future__ import annotations

import importlib
from typing import Any

from requests.exceptions import ConnectionError, Timeout

from touchflow.engine.connectors.kinds import SourceRequest, register_kind

__all__ = ["TRANSIENT"]

# What is left after dlt's own retries and still worth a whole new attempt from the committed cursor.
TRANSIENT: tuple[type[BaseException], ...] = (ConnectionError, Timeout)


def _lazy(module: str, name: str) -> Any:
    def call(request: SourceRequest) -> Any:
        return getattr(importlib.import_module(f"touchflow.engine.connectors.{module}"), name)(request)
    return call


register_kind("rest_api", _lazy("rest_presets", "build_rest_source"), required_settings=("preset",),
              secret_names=("token", "api_key", "username", "password", "app_secret", "permanent_code",
                            "writeback_secret"),
              transient=TRANSIENT)
register_kind("wecom_contacts", _lazy("wecom_source", "build_wecom_source"), required_settings=("corp_id",),
              secret_names=("secret", "writeback_secret"), test=_lazy("wecom_source", "test_kind"),
              transient=TRANSIENT)
register_kind("wechat_followers", _lazy("wechat_source", "build_wechat_source"), required_settings=("app_id",),
              secret_names=("secret",), test=_lazy("wechat_source", "test_kind"), transient=TRANSIENT)
