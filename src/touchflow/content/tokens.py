"""Signed tokens for tracking links: one salt per purpose, so a click token never opens an unsubscribe.

Tokens carry no timestamp on purpose: an unsubscribe link must keep working for as long as the email
sits in an inbox (G6), and nothing here may read the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from itsdangerous import BadSignature, URLSafeSerializer

__all__ = ["PURPOSES", "InvalidToken", "Purpose", "TokenSigner"]

Purpose = Literal["click", "open", "unsubscribe", "preferences"]
PURPOSES: tuple[Purpose, ...] = ("click", "open", "unsubscribe", "preferences")


class InvalidToken(ValueError):
    """The token was tampered with, signed with another key, or made for another purpose."""


class TokenSigner:
    """Signs small JSON payloads with ``secret_key``; ``old_keys`` are still accepted (key rotation, P7)."""

    def __init__(self, secret_key: str, *, old_keys: tuple[str, ...] = ()) -> None:
        if not secret_key:
            raise ValueError("secret_key: an empty key would let anyone forge tracking links")
        # itsdangerous signs with the last key and accepts all of them
        self._keys: list[str] = [*reversed(old_keys), secret_key]
        self._serializers = {p: URLSafeSerializer(self._keys, salt=f"touchflow.{p}") for p in PURPOSES}

    def make_token(self, purpose: Purpose, payload: Mapping[str, Any]) -> str:
        return str(self._serializers[purpose].dumps(dict(payload)))

    def read_token(self, token: str, purpose: Purpose) -> dict[str, Any]:
        """The payload of a token made for ``purpose``; ``InvalidToken`` otherwise."""
        if purpose not in self._serializers:
            raise InvalidToken(f"unknown token purpose {purpose!r}")
        try:
            payload = self._serializers[purpose].loads(token)
        except BadSignature:
            raise InvalidToken(f"invalid {purpose} token: bad signature (tampered, another key or purpose)") from None
        if not isinstance(payload, dict):
            raise InvalidToken(f"invalid {purpose} token: payload is not an object")
        return payload
