"""Personal data at rest: an AES-GCM field cipher, HMAC blind indexes and wrapped data keys (ADR 0026).

* A field ciphertext is ``version (1 byte) ‖ data-key id (4 bytes, big-endian) ‖ nonce (12) ‖ ct ‖ tag``.
  Its associated data is ``"{table}.{column}:{row key}"``: a ciphertext copied to another row or column
  does not open (``PiiError`` names where).
* A blind index is the full HMAC-SHA256 of ``"{kind}:{normalised value}"`` under a separate index key, as
  64 hex digits. It is not truncated: identity values are unique through it, and a collision would merge
  two people.
* Data keys (random 256-bit) are stored wrapped with AES-GCM under a key-encryption key (KEK) derived by
  HKDF from a key of the database's key ring (``security.keystore``: the same env/file/config-dir
  locations that seal channel credentials; no second secret to keep). The wrapping binds the data key's
  id and purpose, so a wrapped key cannot be swapped for another.
"""

from __future__ import annotations

import hmac
import os
import struct
from collections.abc import Callable, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["VERSION", "PiiCodec", "PiiError", "UnknownDataKey", "ciphertext_key_id", "derive_kek", "new_data_key",
           "unwrap_key", "wrap_key"]

VERSION = 1
_HEADER = struct.Struct(">BI")  # version, data-key id
_NONCE = 12
_KEK_INFO = b"touchflow-pii-kek/1"
_INDEX_MEMO = 50_000  # blind indexes remembered per codec (a codec lives ≤ 30 s in a process)


class PiiError(Exception):
    """A field that does not open: wrong key, tampered, or copied from another row or column."""


def derive_kek(ring_key: bytes) -> bytes:
    """The KEK of one key-ring key: HKDF-SHA256 with its own label, so it is never the sealing key itself."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEK_INFO).derive(ring_key)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _wrap_aad(key_id: int, purpose: str) -> bytes:
    return f"data_keys:{key_id}:{purpose}".encode()


def wrap_key(kek: bytes, key: bytes, key_id: int, purpose: str) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(kek).encrypt(nonce, key, _wrap_aad(key_id, purpose))


def unwrap_key(kek: bytes, wrapped: bytes, key_id: int, purpose: str) -> bytes:
    try:
        return AESGCM(kek).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _wrap_aad(key_id, purpose))
    except InvalidTag:
        raise PiiError(f"data key {key_id} ({purpose}) does not unwrap with this key ring (wrong key or "
                       f"tampered)") from None


def ciphertext_key_id(blob: bytes) -> int:
    """The data-key id a ciphertext was made with."""
    if len(blob) < _HEADER.size + _NONCE + 16:
        raise PiiError("not a field ciphertext (too short)")
    version, key_id = _HEADER.unpack_from(blob)
    if version != VERSION:
        raise PiiError(f"field ciphertext version {version} is not known")
    return int(key_id)


def _aad(table: str, column: str, row: str) -> bytes:
    return f"{table}.{column}:{row}".encode()


class PiiCodec:
    """Encrypts with the current field key, opens with any known one; indexes with the one index key.

    ``plaintext_left``: rows written before encryption was enabled may still hold plaintext, so identity
    lookups probe both forms until the encryption pass has finished."""

    def __init__(self, field_keys: Mapping[int, bytes], current: int, index_key: bytes, *,
                 plaintext_left: bool = True, fetch: Callable[[int], bytes | None] | None = None) -> None:
        if current not in field_keys:
            raise PiiError(f"the current data key {current} is not among the loaded keys")
        self.current = current
        self.plaintext_left = plaintext_left
        self._index_key = index_key
        self._aeads = {k: AESGCM(v) for k, v in field_keys.items()}
        self._fetch = fetch  # loads a data key made since (a rotation in another process)
        self._indexes: dict[tuple[str, str], str] = {}

    def __repr__(self) -> str:
        return f"PiiCodec(current={self.current}, keys={sorted(self._aeads)})"

    def encrypt(self, value: str, table: str, column: str, row: str) -> bytes:
        nonce = os.urandom(_NONCE)
        aead = self._aeads[self.current]
        return (_HEADER.pack(VERSION, self.current) + nonce
                + aead.encrypt(nonce, value.encode(), _aad(table, column, row)))

    def decrypt(self, blob: bytes, table: str, column: str, row: str) -> str:
        key_id = ciphertext_key_id(blob)
        aead = self._aeads.get(key_id)
        if aead is None:
            key = self._fetch(key_id) if self._fetch is not None else None
            if key is None:
                raise UnknownDataKey(key_id)
            aead = self._aeads[key_id] = AESGCM(key)
        start = _HEADER.size
        try:
            plain = aead.decrypt(blob[start:start + _NONCE], blob[start + _NONCE:], _aad(table, column, row))
        except InvalidTag:
            raise PiiError(f"{table}.{column} of {row} does not open: it was tampered with or copied from "
                           f"another row or column") from None
        return plain.decode()

    def index(self, kind: str, value: str) -> str:
        # an import computes each identity's index twice (lookup, then insert): remembered, within a bound
        key = (kind, value)
        found = self._indexes.get(key)
        if found is None:
            if len(self._indexes) >= _INDEX_MEMO:
                self._indexes.clear()
            found = self._indexes[key] = hmac.digest(self._index_key, f"{kind}:{value}".encode(), "sha256").hex()
        return found

    def key_of(self, blob: bytes) -> int:
        return ciphertext_key_id(blob)


class UnknownDataKey(PiiError):
    """A ciphertext made with a data key this process has not loaded (a rotation elsewhere): reload."""

    def __init__(self, key_id: int) -> None:
        super().__init__(f"data key {key_id} is not known here")
        self.key_id = key_id
