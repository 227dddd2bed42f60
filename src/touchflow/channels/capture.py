"""A channel that sends nothing: it keeps the newest messages in memory and reports them sent.

The simulator, the demo and tests use it where a real provider would be; it is the ``Channel`` fake that
ships next to the port. Thread-safe, because the dispatcher sends from several threads.

It keeps only the newest ``KEEP`` messages (and counts them all): a worker started with no channel configured
sends through eight of these, and keeping 100,000 each grew one in a soak by 167 MB of rendered e-mails.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

from touchflow.channels.base import Delivery, Outgoing

__all__ = ["KEEP", "CaptureChannel"]

KEEP = 1_000  # messages each capture channel keeps to be looked at; ``count`` counts every one


class CaptureChannel:
    def __init__(self, name: str = "capture", max_batch: int = 1000, keep: int = KEEP) -> None:
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
    def count(self) -> int:
        """How many messages this channel has been given, kept or not."""
        with self._lock:
            return self._count

    @property
    def sent(self) -> list[Outgoing]:
        """A snapshot of the newest messages sent (at most ``keep``), in order."""
        with self._lock:
            return list(self._sent)

    def sent_to(self, to: str) -> list[Outgoing]:
        return [m for m in self.sent if m.to == to]

    def clear(self) -> None:
        with self._lock:
            self._sent.clear()

    def close(self) -> None:
        self.closed = True
