"""Identify tokens for the website snippet: the customer's own site backend vouches that an anonymous visitor
is a person it has authenticated.

A token is a JWT (RFC 7519) signed with HS256 — HMAC-SHA256 under the site's identify secret, which
``touchflow site create`` prints once — with three claims: ``vid`` (the visitor, ``anon:<id>`` as
``touchflow.visitor()`` returns it), ``sub`` (who they are: ``email:…`` or ``phone:…``) and ``exp`` (Unix
seconds). Any JWT library makes one; so does :func:`make_identify_token`, which needs only the standard
library, so a site backend can copy it. Touchflow accepts only HS256 (never ``none``, never another
algorithm named in the header) and compares signatures in constant time.

Pure: no clock, no I/O; the caller passes ``now``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

__all__ = ["MAX_TOKEN_CHARS", "MAX_TTL_S", "IdentifyTokenError", "make_identify_token", "read_identify_token"]

MAX_TOKEN_CHARS = 2048
MAX_TTL_S = 24 * 3600  # a token meant to live longer than a day is a standing credential: refused
_HEADER = {"alg": "HS256", "typ": "JWT"}


class IdentifyTokenError(ValueError):
    """Why a token was refused: ``reason`` is one of malformed, algorithm, signature, expired, too_long_lived,
    visitor, identifier; ``detail`` says it for people."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, signing_input: str) -> bytes:
    return hmac.new(secret.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()


def make_identify_token(secret: str, visitor: str, identifier: str, expires_at: int) -> str:
    """What a site backend sends its page after login: ``make_identify_token(SECRET, "anon:…",
    "email:ann@example.cn", int(time.time()) + 300)``; the page calls ``touchflow.identify(token)``."""
    header = _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
    claims = _b64(json.dumps({"vid": visitor, "sub": identifier, "exp": int(expires_at)},
                             separators=(",", ":"), ensure_ascii=False).encode())
    return f"{header}.{claims}.{_b64(_sign(secret, f'{header}.{claims}'))}"


def read_identify_token(secret: str, token: str, visitor: str, now: int) -> str:
    """The identifier the token vouches for, once signature, expiry and visitor check out; else
    ``IdentifyTokenError``. The signature is checked before anything in the claims is believed."""
    if len(token) > MAX_TOKEN_CHARS:
        raise IdentifyTokenError("malformed", f"token longer than {MAX_TOKEN_CHARS} characters")
    parts = token.strip().split(".")
    if len(parts) != 3 or not parts[0] or not parts[1] or not token.isascii():
        raise IdentifyTokenError("malformed", "token must be a JWT: three base64url parts joined by dots")
    try:
        header = json.loads(_unb64(parts[0]))
    except (ValueError, UnicodeError) as exc:
        raise IdentifyTokenError("malformed", "token header is not base64url JSON") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise IdentifyTokenError("algorithm", "token must be signed with HS256 (HMAC-SHA256) and say so in its "
                                              "header")
    try:
        signature = _unb64(parts[2])
    except ValueError:
        signature = b""
    if not hmac.compare_digest(signature, _sign(secret, f"{parts[0]}.{parts[1]}")):
        raise IdentifyTokenError("signature", "token signature does not match this site's identify secret")
    try:
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeError) as exc:
        raise IdentifyTokenError("malformed", "token claims are not base64url JSON") from exc
    if not isinstance(claims, dict):
        raise IdentifyTokenError("malformed", "token claims must be a JSON object")
    exp, vid, sub = claims.get("exp"), claims.get("vid"), claims.get("sub")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise IdentifyTokenError("malformed", "token claim exp must be Unix seconds (an integer)")
    if exp <= now:
        raise IdentifyTokenError("expired", f"token expired {now - exp} s ago: have the site backend issue a new one")
    if exp > now + MAX_TTL_S:
        raise IdentifyTokenError("too_long_lived", f"token expires more than {MAX_TTL_S // 3600} h ahead: issue "
                                                   "short-lived tokens (minutes)")
    if not isinstance(vid, str) or not hmac.compare_digest(vid.encode(), visitor.encode()):
        raise IdentifyTokenError("visitor", "token was issued for another visitor (claim vid)")
    if not isinstance(sub, str) or not sub:
        raise IdentifyTokenError("identifier", "token claim sub must name the person: email:… or phone:…")
    return sub
