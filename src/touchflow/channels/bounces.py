"""Bounces and complaints that come back by mail: RFC 3464 delivery reports and RFC 5965 ARF reports.

A pure function over the raw bytes of one returned message, so the mailbox poller, a webhook that
forwards raw mail, and the tests all share it. The outbound message carries ``X-Touchflow-Message``
(our message id) and a Message-ID derived from its idempotency key (``smtp.build_message``); reports
return the original message or its headers, which is how a report finds the message it is about.

Whether a permanent failure is *hard* (the address is bad: suppress it) is decided once, here, by
``status_is_hard`` and used by the SMTP channel for replies at send time as well.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import getaddresses
from typing import Literal

__all__ = ["BounceKind", "BounceReport", "parse_report", "status_is_hard"]

BounceKind = Literal["bounce", "complaint"]
_COMPLAINTS = frozenset({"abuse", "fraud", "virus", "other"})  # "not-spam" takes a complaint back


@dataclass(frozen=True)
class BounceReport:
    """What a report says about one message. ``hard`` only means something for bounces;
    ``recipient`` is empty when the provider redacted it (common in complaint feedback loops)."""

    kind: BounceKind
    hard: bool
    recipient: str
    message_id: str | None  # ours: the X-Touchflow-Message header of the original
    provider_message_id: str | None  # the original's Message-ID, what the SMTP channel returned as provider_id
    status: str | None  # enhanced status code, e.g. 5.1.1
    diagnostic: str | None


def status_is_hard(status: str | None, *, at_recipient: bool) -> bool:
    """A permanent failure that says the address is bad.

    5.x.x is hard except where the fault is not the address: 5.2.2 mailbox full and 5.3.4 message too
    big (both pass with time or a smaller message), 5.6.x content and 5.7.x policy or reputation
    (spam filters, blocked sender, missing authentication). A 5xx reply without an enhanced code is
    hard only at RCPT, where it can only be about the recipient.
    """
    if status is None:
        return at_recipient
    parts = status.split(".")
    if len(parts) != 3 or parts[0] != "5":
        return False
    return not (status in ("5.2.2", "5.3.4") or parts[1] in ("6", "7"))


def parse_report(raw: bytes) -> BounceReport | None:
    """The bounce or complaint in ``raw``, or None when it is not a delivery or feedback report
    (or a delivery report of success or relay)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for part in message.walk():
        if part.get_content_type() != "multipart/report":
            continue
        report_type = str(part.get_param("report-type", "", header="content-type")).lower()
        if report_type == "delivery-status":
            return _delivery_status(part)
        if report_type == "feedback-report":
            return _feedback(part)
    return None


def _clean(value: object) -> str:
    return " ".join(str(value).split())


def _typed(value: object) -> str:
    """``rfc822; user@example.org`` → ``user@example.org``; ``smtp; 550 …`` → ``550 …``."""
    text = _clean(value)
    kind, semi, rest = text.partition(";")
    return rest.strip() if semi and " " not in kind.strip() else text


def _address(value: str) -> str:
    """``<user@example.org>`` → ``user@example.org``."""
    return value.strip().strip("<>").strip()


def _original_headers(report: Message) -> Message | None:
    """The returned original (message/rfc822) or its headers (text/rfc822-headers)."""
    for part in report.iter_parts() if isinstance(report, EmailMessage) else ():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if content_type == "text/rfc822-headers":
            text = part.get_payload(decode=True)
            if isinstance(text, bytes):
                return email.message_from_bytes(text, policy=email.policy.default)
    return None


def _field_blocks(report: Message, content_type: str) -> list[Message]:
    for part in report.iter_parts() if isinstance(report, EmailMessage) else ():
        if part.get_content_type() == content_type:
            payload = part.get_payload()
            if isinstance(payload, list):
                return [block for block in payload if isinstance(block, Message)]
    return []


def _ids(original: Message | None, fields: list[Message]) -> tuple[str | None, str | None]:
    ours = provider = None
    if original is not None:
        ours = _clean(original["X-Touchflow-Message"]) if original["X-Touchflow-Message"] else None
        provider = _clean(original["Message-ID"]) if original["Message-ID"] else None
    for block in fields:
        if provider is None and block["Original-Message-ID"]:
            provider = _clean(block["Original-Message-ID"])
    if provider is not None and not provider.startswith("<"):
        provider = f"<{provider.strip('<>')}>"
    return ours or None, provider or None


def _delivery_status(report: Message) -> BounceReport | None:
    blocks = _field_blocks(report, "message/delivery-status")
    recipients = [b for b in blocks[1:] if b["Action"]]  # the first block is about the message
    chosen = next((b for b in recipients if _clean(b["Action"]).lower() == "failed"), None) or next(
        (b for b in recipients if _clean(b["Action"]).lower() == "delayed"), None)
    if chosen is None:
        return None  # delivered, relayed or expanded: not a bounce
    words = _clean(chosen["Status"] or "").split()
    status = words[0] if words else None  # "5.1.1 (bad destination mailbox)" → "5.1.1"
    failed = _clean(chosen["Action"]).lower() == "failed"
    recipient = _address(_typed(chosen["Final-Recipient"] or chosen["Original-Recipient"] or ""))
    diagnostic = _typed(chosen["Diagnostic-Code"]) if chosen["Diagnostic-Code"] else None
    message_id, provider_id = _ids(_original_headers(report), blocks)
    return BounceReport("bounce", failed and status_is_hard(status, at_recipient=False), recipient.lower(),
                        message_id, provider_id, status, diagnostic)


def _feedback(report: Message) -> BounceReport | None:
    blocks = _field_blocks(report, "message/feedback-report")
    if not blocks:
        return None
    fields = blocks[0]
    feedback_type = _clean(fields["Feedback-Type"] or "").lower()
    if feedback_type not in _COMPLAINTS:
        return None
    original = _original_headers(report)
    recipient = _address(_typed(fields["Original-Rcpt-To"] or ""))
    if not recipient and original is not None and original["To"]:
        recipient = next((address for _, address in getaddresses([str(original["To"])])), "")
    if "@" not in recipient or "redacted" in recipient.lower():
        recipient = ""
    message_id, provider_id = _ids(original, blocks)
    return BounceReport("complaint", False, recipient.lower(), message_id, provider_id, None,
                        f"feedback-type {feedback_type}")
