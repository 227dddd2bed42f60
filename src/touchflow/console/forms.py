"""Reading console form posts (``application/x-www-form-urlencoded``) without python-multipart.

Forms are small: a body over 64 KiB or a field sent twice is refused with a message naming it, never a 500.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request

__all__ = ["FormError", "read_form"]

_LIMIT = 64 * 1024


class FormError(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


async def read_form(request: Request) -> dict[str, str]:
    """The posted fields (the ``csrf_token`` field included: ``api/auth`` already checked it)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if not body:
        return {}
    if kind != "application/x-www-form-urlencoded":
        raise FormError("body", "send the form as application/x-www-form-urlencoded")
    if len(body) > _LIMIT:
        raise FormError("body", f"over {_LIMIT // 1024} KiB")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormError("body", f"not a readable form ({exc})") from None
    fields: dict[str, str] = {}
    for name, values in parsed.items():
        if len(values) > 1:
            raise FormError(name, "sent more than once")
        if "\x00" in values[0]:
            raise FormError(name, "contains a NUL character")
        fields[name] = values[0]
    return fields
