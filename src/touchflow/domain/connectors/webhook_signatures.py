"""Inbound webhook signatures: HMAC-SHA256 over ``<timestamp>.<raw body>`` with the connector's secret.

The timestamp is inside what is signed, so an old delivery replayed with a fresh timestamp fails the check, and a
timestamp outside ``tolerance`` is refused before any comparison. Comparison is constant-time. Pure.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

__all__ = ["SignatureRejected", "sign_webhook", "verify_webhook"]


class SignatureRejected(ValueError):
    """The delivery is not provably from the sender: missing, malformed, stale or wrong."""


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_webhook(secret: str, timestamp_header: str | None, signature_header: str | None, body: bytes,
                   now: datetime, tolerance: timedelta = timedelta(minutes=5)) -> None:
    if not secret:
        raise SignatureRejected("the connector has no webhook secret")
    if not timestamp_header or not timestamp_header.strip().isdigit():
        raise SignatureRejected("missing or malformed timestamp header")
    if not signature_header:
        raise SignatureRejected("missing signature header")
    timestamp = int(timestamp_header.strip())
    if abs(now.timestamp() - timestamp) > tolerance.total_seconds():
        raise SignatureRejected("timestamp outside the tolerance (a replay, or a clock far off)")
    expected = sign_webhook(secret, timestamp, body)
    given = signature_header.strip()
    if not any(hmac.compare_digest(expected.encode(), part.strip().encode()) for part in given.split(",")):
        raise SignatureRejected("signature does not match")
