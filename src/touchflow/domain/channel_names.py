"""One name per channel. The WeChat official account (公众号) is ``wechat`` everywhere: journeys, templates,
channel configurations, guardrail policies and consent. ``wechat_mp`` — what templates and ``channel set``
used to call it — is still accepted as an alias, with a warning, so old files keep working (ADR 0016).
``wechat_mp`` stays the name of the provider *kind* (the adapter), like ``smtp`` or ``sms_aliyun``.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CHANNEL_ALIASES", "alias_warning", "canonical_channel"]

CHANNEL_ALIASES: Mapping[str, str] = {"wechat_mp": "wechat"}


def canonical_channel(name: str) -> str:
    """The channel's one name (``wechat_mp`` → ``wechat``); other names unchanged."""
    return CHANNEL_ALIASES.get(name, name)


def alias_warning(name: str, where: str) -> str | None:
    """The warning for an alias at ``where`` (a field path), or None for a channel's own name."""
    canonical = CHANNEL_ALIASES.get(name)
    if canonical is None:
        return None
    return (f"{where}: channel {name!r} is now called {canonical!r}; saved as {canonical!r} "
            f"(渠道 {name} 已更名为 {canonical})")
