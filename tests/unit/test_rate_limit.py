"""The in-process token bucket behind the public pop-up endpoints."""

from __future__ import annotations

import pytest

from touchflow.api.rate_limit import RateLimit, TokenBuckets, retry_after


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    ticks = Ticks()
    buckets = TokenBuckets(RateLimit(burst=3, per_second=0.5), ticks)
    assert [buckets.take("ip") for _ in range(3)] == [None, None, None]
    wait = buckets.take("ip")
    assert wait == pytest.approx(2.0) and retry_after(wait) == "2"
    assert buckets.take("other") is None  # buckets are per key
    ticks.now += 2.0
    assert buckets.take("ip") is None and buckets.take("ip") is not None
    assert buckets.take("ip", cost=10) == pytest.approx(6.0)  # a cost above the burst waits for a full bucket
    assert retry_after(0.01) == "1"


def test_the_table_of_buckets_stays_bounded() -> None:
    ticks = Ticks()
    buckets = TokenBuckets(RateLimit(burst=1, per_second=1), ticks, max_keys=10)
    for i in range(10):
        buckets.take(f"ip{i}")
    ticks.now += 5  # every bucket has refilled: forgetting them changes nothing
    assert buckets.take("newcomer") is None
    assert len(buckets._buckets) == 1
    with pytest.raises(ValueError):
        TokenBuckets(RateLimit(burst=0, per_second=1))
