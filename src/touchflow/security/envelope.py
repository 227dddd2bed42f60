"""Envelope encryption of a blob (an approved export, a secret waiting for pickup): AES-256-GCM under a fresh
data key, and the data key sealed by the key ring's ``SecretBox`` with ``context`` bound as associated data.

Only the sealed key and the ciphertext are stored. Dropping the sealed key makes the ciphertext unreadable
even where a backup kept it; a key rotation re-seals only the small data keys.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from touchflow.security.crypto import SecretBox, SecretError

__all__ = ["open_blob", "reseal_key", "seal_blob"]


def seal_blob(box: SecretBox, data: bytes, context: str) -> tuple[str, bytes]:
    """(sealed data key, nonce ‖ ciphertext ‖ tag)."""
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, data, context.encode())
    sealed_key = box.seal({"k": base64.urlsafe_b64encode(key).decode("ascii")}, context)
    return sealed_key, nonce + ciphertext


def open_blob(box: SecretBox, sealed_key: str, blob: bytes, context: str) -> bytes:
    key = base64.urlsafe_b64decode(str(box.open(sealed_key, context)["k"]))
    try:
        return AESGCM(key).decrypt(blob[:12], blob[12:], context.encode())
    except InvalidTag as exc:
        raise SecretError(f"the data of {context} does not open (tampered or moved)") from exc


def reseal_key(old: SecretBox, new: SecretBox, sealed_key: str, context: str) -> str:
    """The same data key sealed with the new current key (after a rotation)."""
    return new.seal(old.open(sealed_key, context), context)
