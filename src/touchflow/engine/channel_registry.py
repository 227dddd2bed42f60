"""The configured channels of a worker, each with its rate limit and concurrency.

Configuration is data (``channel_configs`` rows, secrets sealed with AES-GCM); ``build_channel`` turns
one row into an adapter. ``onsite`` needs no adapter: the dispatcher writes the pop-up into the
contact's on-site inbox in the same transaction that records the outcome.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from touchflow.channels.base import Channel
from touchflow.domain.channel_names import canonical_channel
from touchflow.domain.guardrails.ports import ChannelConfig

__all__ = ["CHANNEL_KINDS", "PROVIDER_TEMPLATE_KINDS", "ChannelLimits", "ChannelRegistry", "ConfiguredChannel",
           "Limiter", "RateLimiter", "build_channel"]


PROVIDER_TEMPLATE_KINDS = frozenset({"sms_aliyun", "sms_tencent", "wechat_mp"})


class Limiter(Protocol):
    def take(self, n: int) -> float: ...


# name, rate per second, concurrency → the channel's limiter and slots; bootstrap passes one that shares them
# through the database (store/channel_limits.py, ADR 0047), so N workers together keep one provider limit
ChannelLimits = Callable[[str, float | None, int], tuple[Limiter, AbstractContextManager[Any]]]


class RateLimiter:
    """A process-local token bucket on the monotonic clock: ``take(n)`` waits until ``n`` sends fit the rate."""

    def __init__(self, per_second: float | None, burst: float | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.per_second = per_second
        self.capacity = burst if burst is not None else max(per_second or 0.0, 1.0)
        self._tokens = self.capacity
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._sleep = sleep

    def take(self, n: int) -> float:
        """Block until ``n`` tokens are available; return the seconds waited."""
        if not self.per_second:
            return 0.0
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.per_second)
            self._last = now
            self._tokens -= n
            wait = max(0.0, -self._tokens / self.per_second)
        if wait:
            self._sleep(wait)
        return wait


@dataclass
class ConfiguredChannel:
    channel: Channel
    limiter: Limiter
    slots: AbstractContextManager[Any]
    kind: str = "capture"


@dataclass
class ChannelRegistry:
    channels: dict[str, ConfiguredChannel] = field(default_factory=dict)

    def add(self, name: str, channel: Channel, rate_per_s: float | None = None, concurrency: int = 4,
            kind: str = "custom", limits: ChannelLimits | None = None) -> None:
        if limits is not None:
            limiter, slots = limits(name, rate_per_s, concurrency)
        else:
            limiter, slots = RateLimiter(rate_per_s), threading.Semaphore(concurrency)
        self.channels[name] = ConfiguredChannel(channel, limiter, slots, kind)

    def get(self, name: str) -> ConfiguredChannel | None:
        """The adapter for a channel name; a message queued as ``wechat_mp`` finds the ``wechat`` channel."""
        return self.channels.get(name) or self.channels.get(canonical_channel(name))

    def captures(self) -> set[str]:
        """Channels that record and send nothing (a missing template is fine on them)."""
        return {name for name, c in self.channels.items() if c.kind == "capture"}

    def provider_templates(self) -> set[str]:
        """Channels whose adapter sends the provider's registered templates (fields, not free text)."""
        return {name for name, c in self.channels.items() if c.kind in PROVIDER_TEMPLATE_KINDS}

    def close(self) -> None:
        for configured in {id(c): c for c in self.channels.values()}.values():  # an alias shares its adapter
            configured.channel.close()

    @classmethod
    def capture_all(cls, names: Iterable[str] = ("email", "sms", "wecom", "wechat_mp", "wechat", "webhook",
                                                 "wecom_staff", "capture")
                    ) -> ChannelRegistry:
        """Every channel records and sends nothing: the sandbox and the demo."""
        from touchflow.channels.capture import CaptureChannel

        registry = cls()
        for name in names:
            registry.add(name, CaptureChannel(name), kind="capture")
        return registry

    @classmethod
    def from_configs(cls, configs: Iterable[ChannelConfig], open_secret: Callable[[str, str], dict[str, Any]],
                     limits: ChannelLimits | None = None) -> ChannelRegistry:
        registry = cls()
        for config in configs:
            if not config.enabled:
                continue
            secret = open_secret(config.secret, f"channel:{config.name}") if config.secret else {}
            registry.add(config.name, build_channel(config.name, config.kind, config.settings, secret),
                         config.rate_per_s, config.concurrency, config.kind, limits)
            # A configuration saved as wechat_mp before the rename carries the wechat channel too.
            registry.channels.setdefault(canonical_channel(config.name), registry.channels[config.name])
        return registry


def _settings(cls: Any, name: str, values: Mapping[str, Any]) -> Any:
    """Build an adapter's settings dataclass from stored settings + opened secrets; errors name the key."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"channel {name}: unknown setting(s) {', '.join(unknown)} for {cls.__name__} "
                         f"(known: {', '.join(sorted(known))})")
    prepared: dict[str, Any] = {}
    for key, value in values.items():
        if key == "timeout" and isinstance(value, int | float):
            value = httpx.Timeout(float(value), connect=min(float(value), 5.0))
        elif key == "allow_hosts":
            value = frozenset(value)
        elif key == "allow_networks":
            value = tuple(value)
        prepared[key] = value
    try:
        return cls(**prepared)
    except TypeError as exc:
        raise ValueError(f"channel {name}: {exc}") from exc


def _capture(name: str, settings: Mapping[str, Any], secret: Mapping[str, Any]) -> Channel:
    from touchflow.channels.capture import CaptureChannel

    return CaptureChannel(name)


def _smtp(name: str, settings: Mapping[str, Any], secret: Mapping[str, Any]) -> Channel:
    from touchflow.channels.smtp import SmtpChannel, SmtpSettings

    return SmtpChannel(name, _settings(SmtpSettings, name, {**settings, **secret}))


def _sms_http(name: str, settings: Mapping[str, Any], secret: Mapping[str, Any]) -> Channel:
    from touchflow.channels.sms import HttpSmsChannel, HttpSmsSettings

    return HttpSmsChannel(_settings(HttpSmsSettings, name, {"name": name, **settings, **secret}))


def _sms_aliyun(name: str, settings: Mapping[str, Any], secret: Mapping[str, Any]) -> Channel:
    from touchflow.channels.sms_aliyun import AliyunSmsChannel, AliyunSmsSettings

    return AliyunSmsChannel(_settings(AliyunSmsSettings, name, {"name": name, **settings, **secret}))


def _sms_tencent(name: str, settings: Mapping[str, Any], secret: Mapping[str, Any]) -> Channel:
    from touchflow.channels.sms_tencent import TencentSmsChannel, TencentSmsSettings

    return TencentSmsChannel(_settings(TencentSmsSettings, name, {"name": name, **settings, **secret}))


def _wecom_customer(name: str, settings: Mapping[str, Any], secret: Mapping[str, Any]) -> Channel:
    from touchflow.channels.wecom import WeComCustomerChannel, WeComSettings

    return WeComCustomerChannel(_settings(WeComSettings, name, {**settings, **secret}), name=name)


def _wecom_staff(name: str, settings: Mapping[str, Any], secret: Mapping[str, Any]) -> Channel:
    from touchflow.channels.wecom import WeComSettings, WeComStaffChannel

    return WeComStaffChannel(_settings(WeComSettings, name, {**settings, **secret}), name=name)


def _wechat_mp(name: str, settings: Mapping[str, Any], secret: Mapping[str, Any]) -> Channel:
    from touchflow.channels.wechat_mp import WechatMpChannel, WechatMpSettings

    return WechatMpChannel(_settings(WechatMpSettings, name, {"name": name, **settings, **secret}))


def _webhook(name: str, settings: Mapping[str, Any], secret: Mapping[str, Any]) -> Channel:
    from touchflow.channels.webhook import WebhookChannel, WebhookSettings

    return WebhookChannel(_settings(WebhookSettings, name, {"name": name, **settings, **secret}))


CHANNEL_KINDS: dict[str, Callable[[str, Mapping[str, Any], Mapping[str, Any]], Channel]] = {
    "capture": _capture,
    "smtp": _smtp,
    "sms_http": _sms_http,
    "sms_aliyun": _sms_aliyun,
    "sms_tencent": _sms_tencent,
    "wecom_customer": _wecom_customer,
    "wecom_staff": _wecom_staff,
    "wechat_mp": _wechat_mp,
    "webhook": _webhook,
}


def build_channel(name: str, kind: str, settings: Mapping[str, Any], secret: Mapping[str, Any]) -> Channel:
    factory = CHANNEL_KINDS.get(kind)
    if factory is None:
        raise ValueError(f"channel {name}: unknown kind {kind!r} (known: {', '.join(sorted(CHANNEL_KINDS))})")
    return factory(name, settings, secret)
