"""A channel that sends nothing: it keeps every message in memory and reports it sent.

The simulator, the demo and tests use it where a real provider would be; it is the ``Channel`` fake that
ships next to the port. Thread-safe, because the dispatcher sends from several threads.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

from touchflow.channels.base import Delivery, Outgoing

__all__ = ["CaptureChannel"]


class CaptureChannel:
    def __init__(self, name: str = "capture", max_batch: int = 1000, keep: int = 100_000) -> None:
        self.name = name
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._count = 0
        self._sent: deque[Outgoing] = deque(maxlen=keep)  # a long-running server keeps only the newest
        self.closed = False

    def send(self, messages: Sequence[Outgoing]) -> list[Delivery]:
        with self._lock:
            start = self._count
            self._count += len(messages)
            self._sent.extend(messages)
        return [
            Delivery(m.message_id, "sent", provider_id=f"{self.name}-{start + i + 1}") for i, m in enumerate(messages)
        ]

    @property
    def sent(self) -> list[Outgoing]:
        """A snapshot of everything sent so far, in order."""
        with self._lock:
            return list(self._sent)

    def sent_to(self, to: str) -> list[Outgoing]:
        return [m for m in self.sent if m.to == to]

    def clear(self) -> None:
        with self._lock:
            self._sent.clear()

    def close(self) -> None:
        self.closed = True
