"""What the guardrail use cases need from storage: freezes, suppressions, channel settings and guard state."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["ChannelConfig", "Freeze", "GuardRepository", "Suppression"]


@dataclass(frozen=True)
class Freeze:
    id: str
    contact_id: str
    frozen_at: datetime
    reason: str
    event_id: str | None
    task_id: str | None
    lifted_at: datetime | None = None
    lifted_by: str | None = None
    lift_reason: str | None = None



@dataclass(frozen=True)
class Suppression:
    channel: str
    address: str
    reason: str  # unsubscribed | hard_bounce | complaint | manual
    source: str
    at: datetime



@dataclass(frozen=True)
class ChannelConfig:
    name: str
    kind: str
    settings: Mapping[str, Any]
    secret: str | None  # sealed; only the channel registry opens it
    rate_per_s: float | None
    concurrency: int
    enabled: bool
    updated_at: datetime



class GuardRepository(Protocol):
    def addresses(self, contact_ids: Collection[str]) -> dict[str, dict[str, str]]:
        """Identity kind -> value per contact (the first of each kind)."""
        ...

    def frozen_among(self, contact_ids: Collection[str]) -> set[str]: ...
    def freeze(self, freeze: Freeze) -> None: ...
    def active_freeze(self, contact_id: str) -> Freeze | None: ...
    def lift(self, contact_id: str, by: str, reason: str, at: datetime) -> Freeze | None: ...
    def freezes_of(self, contact_id: str) -> list[Freeze]: ...

    def suppressed(self, pairs: Collection[tuple[str, str]]) -> set[tuple[str, str]]: ...
    def suppress(self, rows: Sequence[Suppression]) -> None: ...
    def unsuppress(self, channel: str, address: str) -> bool: ...
    def suppressions(self, channel: str | None, limit: int) -> list[Suppression]: ...

    def setting(self, key: str) -> dict[str, Any] | None: ...
    def set_setting(self, key: str, value: Mapping[str, Any], by: str, at: datetime) -> None: ...
    def lock_setting(self, key: str) -> dict[str, Any] | None:
        """The setting, locked until the transaction ends (cursors, "who runs the daily pass" claims)."""
        ...

    def channel_configs(self) -> list[ChannelConfig]: ...
    def save_channel_config(self, config: ChannelConfig) -> None: ...

    def hold_send_gate(self, contact_ids: Collection[str], exclusive: bool) -> None:
        """Serialise sends and freezes per contact until this transaction ends.

        Senders hold it shared around a provider call (after re-reading freezes); a freeze takes it
        exclusively, so a freeze commits only once no send to that contact is in flight, and every
        send that starts after it sees the freeze.
        """
        ...
