"""Small pieces the measurement and settings pages share: masking people's addresses in what a list shows, the
message for a refused field, and a redirect back with a flash code (a POST answers with a redirect: reloading the
page never posts twice)."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from starlette.responses import RedirectResponse

from touchflow.domain.masking import mask_email, mask_phone

__all__ = ["back", "masked"]

_EMAIL = re.compile(r"[^\s@()<>,;:\"']+@[^\s@()<>,;:\"']+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<!\d)\+?\d{11,13}(?!\d)")


def masked(text: str | None) -> str:
    """Every email address and phone number in ``text`` masked (``z***@example.cn``, ``138****1234``)."""
    if not text:
        return ""
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), _EMAIL.sub(lambda m: mask_email(m.group(0)), text))


def back(path: str, **flash: str) -> RedirectResponse:
    """303 to ``path`` with ``flash`` in the query (``?done=approved``)."""
    query = urlencode({k: v for k, v in flash.items() if v})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)
