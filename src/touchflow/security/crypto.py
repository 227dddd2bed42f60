"""Seal and open small secrets (channel credentials) with AES-256-GCM.

The sealed form is ``v1.<base64url(nonce ‖ ciphertext ‖ tag)>``; the channel name is bound as
associated data, so a sealed secret copied onto another channel does not open.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["SecretBox", "SecretError", "key_from_text"]

_PREFIX = "v1."


class SecretError(Exception):
    pass


def key_from_text(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except ValueError as exc:
        raise SecretError("a secret key must be base64url of 32 bytes") from exc
    if len(key) != 32:
        raise SecretError(f"a secret key must be 32 bytes, got {len(key)}")
    return key


class SecretBox:
    """Seals with ``key``; opens with ``key`` or any of ``old_keys`` (a rotated key ring in its grace period)."""

    def __init__(self, key: bytes, *, old_keys: Sequence[bytes] = ()) -> None:
        self._aead = AESGCM(key)
        self._old = tuple(AESGCM(k) for k in old_keys)

    def seal(self, secret: dict[str, Any], context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, json.dumps(secret, sort_keys=True).encode(), context.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str, context: str) -> dict[str, Any]:
        if not sealed.startswith(_PREFIX):
            raise SecretError("not a sealed secret")
        raw = base64.urlsafe_b64decode(sealed[len(_PREFIX):])
        for aead in (self._aead, *self._old):
            try:
                plain = aead.decrypt(raw[:12], raw[12:], context.encode())
                break
            except InvalidTag:
                continue
        else:
            raise SecretError(f"the secret of {context} does not open with this key (wrong key or tampered)")
        value = json.loads(plain)
        if not isinstance(value, dict):
            raise SecretError("a sealed secret must hold an object")
        return value
