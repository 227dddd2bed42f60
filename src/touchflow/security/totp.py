"""Time-based one-time passwords (RFC 6238, 6 digits, 30 s) and recovery codes.

``match_step`` returns the counter a code matched, not just yes/no: the caller stores it as the account's
last used step and refuses any code of that step or an earlier one, so a code seen over a shoulder or in a
proxy log cannot be used again inside its window (``domain.governance.accounts.unused_step``).

Recovery codes are 80 random bits shown once and stored as SHA-256: with that much entropy a slow hash adds
nothing (no dictionary to try), and a plain digest lets the store find and burn a code in one statement.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

import pyotp
import segno

from touchflow.domain.governance.accounts import totp_window

__all__ = ["ISSUER", "RECOVERY_CODES", "hash_recovery_code", "looks_like_totp", "match_step", "new_recovery_codes",
           "new_secret", "provisioning_uri", "qr_svg", "sealing_context"]

ISSUER = "Touchflow"
RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper without mistakes
_TOTP = re.compile(r"\d{6}")


def new_secret() -> str:
    """160 random bits, base32 (what authenticator apps expect)."""
    return pyotp.random_base32(32)


def sealing_context(user_id: str) -> str:
    """The associated data a TOTP secret is sealed under: a sealed secret copied to another account fails."""
    return f"totp:{user_id}"


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The provisioning URI as an SVG QR code (no external service, no image library)."""
    return str(segno.make(uri, error="m").svg_inline(scale=4, border=2))


def looks_like_totp(code: str) -> bool:
    return bool(_TOTP.fullmatch(code.replace(" ", "")))


def match_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step (counter) whose code is ``code`` within one step either side of ``now``, or None."""
    code = code.replace(" ", "")
    if not _TOTP.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    for step in totp_window(now):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """``xxxx-xxxx-xxxx-xxxx`` codes, 16 characters of a 31-letter alphabet (≈ 79 bits) each."""
    return ["-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(4)) for _ in range(count)]


def hash_recovery_code(code: str) -> str:
    """SHA-256 of the code as typed, without spaces and dashes, lower-case."""
    clean = re.sub(r"[\s-]", "", code).lower()
    return hashlib.sha256(f"touchflow-recovery:{clean}".encode()).hexdigest()
