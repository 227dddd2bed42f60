"""Identifiers that sort by creation time, so new rows append to indexes instead of scattering."""

from __future__ import annotations

import itertools
import secrets
from datetime import datetime

__all__ = ["IdFactory"]


class IdFactory:
    """``<ms since epoch:12 hex><counter:8 hex><random:12 hex>``: 32 characters, time-ordered."""

    def __init__(self, prefix: str = "") -> None:
        self._prefix = prefix
        self._counter = itertools.count(secrets.randbelow(1 << 24))
        self._node = secrets.randbits(48)

    def new(self, now: datetime) -> str:
        ms = int(now.timestamp() * 1000)
        return f"{self._prefix}{ms:012x}{next(self._counter) & 0xFFFFFFFF:08x}{self._node:012x}"
