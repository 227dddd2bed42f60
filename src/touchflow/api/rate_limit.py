"""Token buckets for the public endpoints, held in this process's memory.

Per process, by design: with N server processes a client gets up to N times the rate, and a restart refills
every bucket. That is enough to stop one script from hammering a public endpoint; a shared limit across
machines belongs in the reverse proxy in front.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimit", "TokenBuckets", "retry_after"]


@dataclass(frozen=True)
class RateLimit:
    burst: float  # bucket size: requests allowed at once
    per_second: float  # refill rate


class TokenBuckets:
    """One bucket per key (an IP address, a site key id), created full. ``take`` answers None when the request
    may go ahead, else the seconds until it would (for ``Retry-After``)."""

    def __init__(self, limit: RateLimit, monotonic: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        if limit.burst < 1 or limit.per_second <= 0:
            raise ValueError("a rate limit needs burst >= 1 and per_second > 0")
        self.limit = limit
        self._monotonic = monotonic
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, cost: float = 1.0) -> float | None:
        now = self._monotonic()
        burst, rate = self.limit.burst, self.limit.per_second
        cost = min(cost, burst)
        with self._lock:
            tokens, at = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - at) * rate)
            if tokens >= cost:
                if len(self._buckets) >= self._max_keys and key not in self._buckets:
                    self._forget_full(now)
                self._buckets[key] = (tokens - cost, now)
                return None
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / rate

    def _forget_full(self, now: float) -> None:
        """A bucket that has refilled is the same as no bucket: drop those (and, if none has, everything)."""
        burst, rate = self.limit.burst, self.limit.per_second
        self._buckets = {k: v for k, v in self._buckets.items() if v[0] + (now - v[1]) * rate < burst}
        if len(self._buckets) >= self._max_keys:
            self._buckets.clear()


def retry_after(seconds: float) -> str:
    """Whole seconds, at least 1 (``Retry-After`` takes integers)."""
    return str(max(1, math.ceil(seconds)))
