"""What every benchmark needs: memory readings, percentiles, progress on stderr."""

from __future__ import annotations

import resource
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

__all__ = ["anon_rss_mb", "current_rss_mb", "log", "peak_anon_during", "peak_rss_mb", "percentile"]

T = TypeVar("T")


def _proc_status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_mb() -> float:
    """Peak resident set size of this process image.

    Linux's ``ru_maxrss`` survives ``exec``: a 'spawn' child would report its parent's peak if that
    was higher. ``VmHWM`` belongs to the current image only.
    """
    hwm = _proc_status_mb("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def current_rss_mb() -> float:
    return _proc_status_mb("VmRSS") or peak_rss_mb()


def anon_rss_mb() -> float:
    """Resident anonymous memory now (heap, stacks): what the process needs, without the file pages SQLite's
    memory map brings in (those count in VmRSS/VmHWM, yet the kernel can drop them at will)."""
    return _proc_status_mb("RssAnon") or current_rss_mb()


def peak_anon_during(work: Callable[[], T], every: float = 0.02) -> tuple[T, float, float]:
    """``work()``'s result, and the anonymous RSS before it and at its highest while it ran (sampled every
    ``every`` s by a thread): the memory one call needs, which ``VmHWM`` cannot tell (it keeps the process's
    earlier peaks, and SQLite's memory-mapped pages)."""
    before = anon_rss_mb()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(every):
            peak[0] = max(peak[0], anon_rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = work()
    finally:
        done.set()
        sampler.join()
    return result, before, max(peak[0], anon_rss_mb())


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
