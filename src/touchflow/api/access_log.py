"""Credentials in URLs never reach the log: query parameters named ``key``/``token`` (any case, also
``api_key``, ``access_token``…) are written as ``[redacted]``. ``touchflow serve`` installs the filter on
uvicorn's loggers through ``log_config()`` (a dictConfig, so every worker process gets it too)."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

__all__ = ["RedactQuerySecrets", "log_config", "redact"]

_SECRET_PARAM = re.compile(r"([?&][^=&#\s\"]*?(?:key|token)=)[^&#\s\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    return _SECRET_PARAM.sub(r"\1[redacted]", text)


class RedactQuerySecrets(logging.Filter):
    """Rewrites the record's arguments (uvicorn passes the path as one of them) and its message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration with the filter on its handlers and loggers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_query_secrets"] = {"()": f"{__name__}.RedactQuerySecrets"}
    for section in ("handlers", "loggers"):
        for entry in config.get(section, {}).values():
            entry.setdefault("filters", []).append("redact_query_secrets")
    return config
