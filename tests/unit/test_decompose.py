"""Shift-share decomposition for ``metrics explain`` (A3)."""

from __future__ import annotations

import random

import pytest

from touchflow.domain.measurement.decompose import decompose, device_of, mailbox_provider


def test_contributions_sum_exactly_to_the_change() -> None:
    rng = random.Random(3)
    for _ in range(200):
        keys = [f"k{i}" for i in range(rng.randint(1, 6))]
        before = {k: (rng.randint(0, 50), rng.randint(50, 500)) for k in keys if rng.random() < 0.9}
        after = {k: (rng.randint(0, 50), rng.randint(50, 500)) for k in keys if rng.random() < 0.9}
        if not before or not after:
            continue
        result = decompose("x", before, after)
        assert result.rate0 is not None and result.rate1 is not None
        assert result.mix + result.rate == pytest.approx(result.rate1 - result.rate0, abs=1e-12)
        assert sum(s.total for s in result.segments) == pytest.approx(result.change, abs=1e-12)


def test_pure_mix_shift_toward_a_worse_provider() -> None:
    # each provider keeps its rate; traffic moves to 163.com, which opens less: all mix, no rate change
    before = {"qq.com": (300, 1000), "163.com": (100, 1000)}
    after = {"qq.com": (150, 500), "163.com": (150, 1500)}
    result = decompose("provider", before, after)
    assert result.rate == pytest.approx(0) and result.mix == pytest.approx(0.15 - 0.2)
    assert result.segments[0].key in ("qq.com", "163.com") and all(s.rate == pytest.approx(0) for s in result.segments)


def test_a_rate_change_in_one_segment_ranks_first() -> None:
    before = {"09:00": (300, 1000), "15:00": (300, 1000), "21:00": (300, 1000)}
    after = {"09:00": (300, 1000), "15:00": (120, 1000), "21:00": (290, 1000)}
    result = decompose("send_hour", before, after)
    top = result.segments[0]
    assert top.key == "15:00" and top.rate == pytest.approx(-0.06) and top.p_value is not None and top.p_value < 1e-9
    assert result.segments[-1].p_value is not None and result.segments[-1].p_value > 0.05  # 09:00: no change


def test_a_new_segment_is_pure_mix() -> None:
    result = decompose("template", {"a": (30, 100)}, {"a": (30, 100), "b": (5, 100)})
    b = next(s for s in result.segments if s.key == "b")
    assert b.rate == 0 and b.mix < 0 and b.rate0 is None


@pytest.mark.parametrize(("address", "provider"), [
    ("Zhang@QQ.com", "qq.com"), ("a@foxmail.com", "qq.com"), ("b@126.com", "163.com"), ("c@163.com", "163.com"),
    ("d@corp.example.cn", "corp.example.cn"), (None, "(none)"), ("no-at-sign", "(none)")])
def test_mailbox_provider(address: str | None, provider: str) -> None:
    assert mailbox_provider(address) == provider


def test_device_of_user_agents() -> None:
    assert device_of("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) MicroMessenger/8.0") == "wechat"
    assert device_of("Mozilla/5.0 (Linux; Android 14) Mobile Safari") == "mobile"
    assert device_of("Mozilla/5.0 (Windows NT 10.0; Win64; x64)") == "desktop"
    assert device_of(None) == "unknown"


def test_device_class_sorts_agents_into_coarse_classes() -> None:
    from touchflow.domain.measurement.devices import device_class

    assert device_class("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148") == "mobile"
    assert device_class("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15") == "tablet"
    assert device_class("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 Safari/537.36") == "tablet"
    assert device_class("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15") == "desktop"
    assert device_class("Mozilla/5.0") == "proxy"  # Apple Mail Privacy Protection's fetcher
    assert device_class("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
                        ) == "proxy"
    assert device_class("Mozilla/5.0 QQMail ImageProxy") == "proxy"
    assert device_class("Mozilla/5.0 (compatible; NetEase mail image proxy)") == "proxy"
    assert device_class("Googlebot/2.1") == "proxy"
    assert device_class("Mozilla/5.0 (iPhone) MicroMessenger/8.0") == "wechat"
    assert device_class("") == device_class(None) == "unknown"
