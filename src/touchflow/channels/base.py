"""The one interface every channel adapter implements, and the outcome it reports.

An adapter is thin: it turns rendered ``Outgoing`` messages into one provider call (or one SMTP
transaction per message) and classifies what came back. Deciding *whether* to send (consent, caps,
quiet hours, freezes) and *what* to send (rendering) happens before; retrying, fallback and dead
letters after, in the dispatcher. Adapters are synchronous; the dispatcher runs calls to different
providers concurrently on threads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["Attachment", "Channel", "Delivery",
           "DeliveryStatus", "Outgoing", "PermanentError", "TransientError", "contain",
           "each_message"]

log = logging.getLogger(__name__)

DeliveryStatus = Literal["sent", "retry", "failed"]


@dataclass(frozen=True)
class Attachment:
    """A file sent with an email (a report's PDF); channels other than email ignore attachments."""

    filename: str
    media_type: str  # e.g. application/pdf
    data: bytes


@dataclass(frozen=True)
class Outgoing:
    """A rendered message for one recipient.

    ``idempotency_key`` is the same on every attempt of one message (outbox row); adapters pass it to
    providers that accept one (header, request id, Message-ID) so a retry never sends twice.
    """

    message_id: str
    idempotency_key: str
    contact_id: str
    to: str  # email address, E.164 phone, openid, WeCom user id / external_userid, URL for webhooks
    text: str
    subject: str | None = None
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. List-Unsubscribe for email
    data: Mapping[str, Any] = field(default_factory=dict)  # provider template id + params, webhook body
    attachments: tuple[Attachment, ...] = ()  # email only


@dataclass(frozen=True)
class Delivery:
    """What became of one ``Outgoing``: handed over (``sent``), try again later, or never (``failed``)."""

    message_id: str
    status: DeliveryStatus
    provider_id: str | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, from a 429 Retry-After or the provider's advice


class TransientError(Exception):
    """The provider may accept the same request later (5xx, timeout, 429, connection refused)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """The provider will never accept this request (bad address, rejected signature, 4xx other than 429)."""


class Channel(Protocol):
    """A configured provider. ``max_batch`` is how many messages one ``send`` call may carry."""

    name: str
    max_batch: int

    def send(self, messages: Sequence[Outgoing]) -> list[Delivery]:
        """Send ``messages``; one ``Delivery`` per message in the same order. Never raises once anything was
        handed over: a message's own failure, even an unexpected exception, is its ``Delivery`` (``contain``,
        ``each_message``). May raise ``TransientError`` / ``PermanentError`` when nothing was sent."""
        ...

    def close(self) -> None: ...


def contain(channel: str, batch: Sequence[Outgoing], call: Callable[[], Iterable[Delivery]]) -> list[Delivery]:
    """Run one provider ``call`` carrying ``batch``; whatever it raises becomes the outcome of ``batch`` only.

    Answers of earlier calls in the same ``send`` stand, so a bad message (a malformed URL, a value the
    client library chokes on) never makes the dispatcher retry, and so re-send, messages already handed
    over. ``TransientError`` means this call handed nothing over: ``retry``. Anything else: ``failed``, the
    error named (the message may or may not have left; sending it again could duplicate it)."""
    try:
        return list(call())
    except TransientError as exc:
        return [Delivery(m.message_id, "retry", error=str(exc), retry_after=exc.retry_after) for m in batch]
    except PermanentError as exc:
        return [Delivery(m.message_id, "failed", error=str(exc)) for m in batch]
    except Exception as exc:
        log.exception("channel %s: unexpected error on a call of %d message(s)", channel, len(batch))
        error = f"unexpected error in channel {channel}: {type(exc).__name__}: {exc}"[:500]
        return [Delivery(m.message_id, "failed", error=error) for m in batch]


def each_message(channel: str, messages: Sequence[Outgoing], send_one: Callable[[Outgoing], Delivery]
                 ) -> list[Delivery]:
    """One provider call per message, each contained (``contain``): one message's exception is its own."""
    def one(message: Outgoing) -> Delivery:
        return contain(channel, [message], lambda: [send_one(message)])[0]

    return [one(m) for m in messages]
