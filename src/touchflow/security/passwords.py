"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile: t=3, m=64 MiB, p=4).

A hash made with weaker parameters than today's is re-hashed at the next successful login
(``Verified.new_hash``). Unknown accounts are checked against a dummy hash so that "no such email" and
"wrong password" take the same time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["Verified", "dummy_verify", "hash_password", "verify_password"]


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id, RFC 9106 low-memory profile


def hash_password(password: str) -> str:
    """The PHC string (``$argon2id$v=19$m=65536,t=3,p=4$…``): salt and parameters inside it."""
    return _hasher().hash(password)


@dataclass(frozen=True)
class Verified:
    ok: bool
    new_hash: str | None = None  # set when the stored hash uses outdated parameters: store this one instead


def verify_password(stored_hash: str, password: str) -> Verified:
    hasher = _hasher()
    try:
        hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verified(False)
    return Verified(True, hasher.hash(password) if hasher.check_needs_rehash(stored_hash) else None)


@cache
def _dummy_hash() -> str:
    return hash_password("touchflow-dummy-password-for-timing")


def dummy_verify(password: str) -> None:
    """Spend the time a real check would (an unknown email answers as slowly as a wrong password)."""
    verify_password(_dummy_hash(), password)
