"""The capture channel a worker with no configured channel sends through keeps a bounded window."""

from __future__ import annotations

from touchflow.channels.base import Outgoing
from touchflow.channels.capture import KEEP, CaptureChannel
from touchflow.engine.channel_registry import ChannelRegistry


def _messages(n: int, start: int = 0) -> list[Outgoing]:
    return [Outgoing(f"m{i}", f"k{i}", "c", f"to{i}", "hi") for i in range(start, start + n)]


def test_keeps_the_newest_and_counts_every_message() -> None:
    channel = CaptureChannel("email")
    for start in range(0, KEEP + 500, 250):
        deliveries = channel.send(_messages(250, start))
        assert [d.status for d in deliveries] == ["sent"] * 250
    assert channel.count == KEEP + 500
    kept = channel.sent
    assert len(kept) == KEEP
    assert kept[0].message_id == "m500" and kept[-1].message_id == f"m{KEEP + 499}"


def test_a_worker_without_configured_channels_keeps_a_bounded_window_per_channel() -> None:
    registry = ChannelRegistry.capture_all()
    email = registry.channels["email"].channel
    assert isinstance(email, CaptureChannel)
    email.send(_messages(3 * KEEP))
    assert len(email.sent) == KEEP and email.count == 3 * KEEP
