"""Errors that name the field and the reason, so a person can fix the input."""

from __future__ import annotations

__all__ = ["FieldError", "RecordRejected"]


class FieldError(ValueError):
    """One field of one record is unusable."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class RecordRejected(ValueError):
    """A whole record cannot be stored (for example: no usable identifier)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
