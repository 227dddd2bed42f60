"""Identity keys: the normalised identifiers that tie records of one person together (D3)."""

from __future__ import annotations

import re
from typing import NamedTuple

from touchflow.domain.errors import FieldError
from touchflow.domain.normalize import clean_text, normalise_email, normalise_phone

__all__ = ["IDENTITY_KINDS", "Identity", "make_identity", "parse_identifier"]

# kind -> description. Kinds outside this list are allowed when prefixed ``x_`` (custom kinds).
IDENTITY_KINDS: dict[str, str] = {
    "email": "email address, lower-cased",
    "phone": "phone number in E.164",
    "crm": "customer id in the CRM (客户编号)",
    "openid": "WeChat official-account openid",
    "unionid": "WeChat unionid",
    "wecom": "WeCom external user id (企微外部联系人)",
    "anon": "anonymous website visitor id",
}
_CUSTOM_KIND = re.compile(r"x_[a-z0-9_]{1,40}")


class Identity(NamedTuple):
    """A (kind, value) pair; a tuple so that hashing millions of them stays cheap."""

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def make_identity(kind: str, raw: str) -> Identity:
    """Normalise one identifier; raise ``FieldError`` naming the kind when it is unusable."""
    kind = kind.strip().lower()
    if kind not in IDENTITY_KINDS and not _CUSTOM_KIND.fullmatch(kind):
        raise FieldError(kind, f"unknown identity kind {kind!r} (known: {', '.join(IDENTITY_KINDS)}, or x_*)")
    if kind == "email":
        return Identity(kind, normalise_email(raw))
    if kind == "phone":
        return Identity(kind, normalise_phone(raw))
    value = clean_text(raw)
    if not value:
        raise FieldError(kind, "empty")
    if len(value) > 200:
        raise FieldError(kind, "longer than 200 characters")
    return Identity(kind, value)


def parse_identifier(text: str) -> Identity | None:
    """``email:a@b.cn`` style identifiers; ``None`` when the text has no known ``kind:`` prefix."""
    kind, sep, value = text.partition(":")
    if not sep:
        return None
    kind = kind.strip().lower()
    if kind not in IDENTITY_KINDS and not _CUSTOM_KIND.fullmatch(kind):
        return None
    return make_identity(kind, value)
