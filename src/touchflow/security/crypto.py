"""Seal and open small secrets (channel credentials) with AES-256-GCM.

The sealed form is ``v1.<base64url(nonce ‖ ciphertext ‖ tag)>``; the channel name is bound as
associated data, so a sealed secret copied onto another channel does not open.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["SecretBox", "SecretError", "key_from_text", "load_or_create_key_file"]

_PREFIX = "v1."


class SecretError(Exception):
    pass


def key_from_text(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except ValueError as exc:
        raise SecretError("TOUCHFLOW_SECRET_KEY must be base64 of 32 bytes") from exc
    if len(key) != 32:
        raise SecretError(f"TOUCHFLOW_SECRET_KEY must be 32 bytes, got {len(key)}")
    return key


def load_or_create_key_file(path: Path) -> bytes:
    """The embedded default: a key file beside the SQLite database, readable by its owner only."""
    if path.exists():
        return key_from_text(path.read_text(encoding="ascii"))
    key = AESGCM.generate_key(bit_length=256)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.urlsafe_b64encode(key).decode("ascii"))
    return key


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, secret: dict[str, Any], context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, json.dumps(secret, sort_keys=True).encode(), context.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str, context: str) -> dict[str, Any]:
        if not sealed.startswith(_PREFIX):
            raise SecretError("not a sealed secret")
        raw = base64.urlsafe_b64decode(sealed[len(_PREFIX):])
        try:
            plain = self._aead.decrypt(raw[:12], raw[12:], context.encode())
        except InvalidTag as exc:
            raise SecretError(f"the secret of {context} does not open with this key (wrong key or tampered)") from exc
        value = json.loads(plain)
        if not isinstance(value, dict):
            raise SecretError("a sealed secret must hold an object")
        return value
