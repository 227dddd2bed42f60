"""Why did a rate move (A3)? Shift-share decomposition of the change between two periods over one dimension.

With segments i (send hour, template version, segment/tag, channel, mailbox provider, device), weights
``w = trials_i / trials`` and rates ``r_i = successes_i / trials_i`` in period 0 and period 1, the change of the
overall rate ``R1 − R0 = Σ w1_i r1_i − Σ w0_i r0_i`` splits exactly (no interaction remainder) into

* **mix shift**   ``Σ (w1_i − w0_i) · (r̄_i − R̄)`` — traffic moved between segments of different rates;
* **rate change** ``Σ w̄_i · (r1_i − r0_i)``       — segments themselves got better or worse,

with ``r̄_i, w̄_i, R̄`` the means of the two periods (the symmetric, "midpoint" variant: it does not depend on
which period is called the base). Centring the mix term on ``R̄`` leaves the sum unchanged (Σ (w1 − w0) = 0) but
makes each segment's share readable: moving traffic *into* a segment worse than average counts against it.
A segment seen in one period only has its rate carried over from the other, so it is pure mix.
Each segment's rate change also gets a two-proportion z-test p-value, to tell a real change from noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from touchflow.domain.measurement.devices import device_class

__all__ = ["DIMENSIONS", "Decomposition", "SegmentShare", "decompose", "device_of", "mailbox_provider"]

DIMENSIONS = ("send_hour", "template", "segment", "channel", "provider", "device")
# one mailbox provider, several domains
_PROVIDERS = {"foxmail.com": "qq.com", "vip.qq.com": "qq.com", "126.com": "163.com", "yeah.net": "163.com",
              "vip.163.com": "163.com", "googlemail.com": "gmail.com", "hotmail.com": "outlook.com",
              "live.com": "outlook.com", "msn.com": "outlook.com"}


def mailbox_provider(address: str | None) -> str:
    """``Zhang@QQ.com`` → ``qq.com``; foxmail.com counts as qq.com, 126.com/yeah.net as 163.com."""
    if not address or "@" not in address:
        return "(none)"
    domain = address.rpartition("@")[2].strip().lower()
    return _PROVIDERS.get(domain, domain) or "(none)"


def device_of(user_agent: str | None) -> str:
    """The device class of an open's user agent (``devices.device_class``), for opens recorded before tracking
    kept the class itself."""
    return device_class(user_agent)


@dataclass(frozen=True)
class SegmentShare:
    key: str
    successes0: int
    trials0: int
    successes1: int
    trials1: int
    weight0: float
    weight1: float
    rate0: float | None
    rate1: float | None
    mix: float
    rate: float
    p_value: float | None  # two-proportion z-test of rate1 vs rate0 (None where a period has no trials)

    @property
    def total(self) -> float:
        return self.mix + self.rate


@dataclass(frozen=True)
class Decomposition:
    dimension: str
    rate0: float | None
    rate1: float | None
    mix: float
    rate: float
    segments: tuple[SegmentShare, ...]  # ranked: largest absolute contribution first

    @property
    def change(self) -> float:
        return self.mix + self.rate


def _z_test(s0: int, n0: int, s1: int, n1: int) -> float | None:
    if n0 == 0 or n1 == 0:
        return None
    pooled = (s0 + s1) / (n0 + n1)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n0 + 1 / n1))
    if se == 0:
        return 1.0
    z = (s1 / n1 - s0 / n0) / se
    return math.erfc(abs(z) / math.sqrt(2))


def decompose(dimension: str, before: Mapping[str, tuple[int, int]],
              after: Mapping[str, tuple[int, int]]) -> Decomposition:
    """``before``/``after``: segment → (successes, trials). The contributions sum to the overall change."""
    n0 = sum(t for _, t in before.values())
    n1 = sum(t for _, t in after.values())
    big_r0 = sum(s for s, _ in before.values()) / n0 if n0 else None
    big_r1 = sum(s for s, _ in after.values()) / n1 if n1 else None
    centre = ((big_r0 or 0.0) + (big_r1 or 0.0)) / 2 if big_r0 is not None and big_r1 is not None else 0.0
    shares: list[SegmentShare] = []
    for key in sorted(set(before) | set(after)):
        s0, t0 = before.get(key, (0, 0))
        s1, t1 = after.get(key, (0, 0))
        w0 = t0 / n0 if n0 else 0.0
        w1 = t1 / n1 if n1 else 0.0
        r0 = s0 / t0 if t0 else None
        r1 = s1 / t1 if t1 else None
        a = r0 if r0 is not None else (r1 or 0.0)
        b = r1 if r1 is not None else a
        mix = (w1 - w0) * ((a + b) / 2 - centre) if n0 and n1 else 0.0
        rate = (w0 + w1) / 2 * (b - a) if n0 and n1 else 0.0
        shares.append(SegmentShare(key, s0, t0, s1, t1, w0, w1, r0, r1, mix, rate, _z_test(s0, t0, s1, t1)))
    shares.sort(key=lambda s: (-abs(s.total), s.key))
    return Decomposition(dimension, big_r0, big_r1, sum(s.mix for s in shares), sum(s.rate for s in shares),
                         tuple(shares))
