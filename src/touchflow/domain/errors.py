"""Errors that name the field and the reason, so a person can fix the input."""

from __future__ import annotations

__all__ = ["ConcurrentWrite", "FieldError", "PathError", "RecordRejected"]


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


class PathError(ValueError):
    """Marketer-written data (a condition, a journey, a scenario) is unusable; ``path`` names the element."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ConcurrentWrite(RuntimeError):
    """Concurrent transactions kept taking what this one was about to write: run the whole unit again (a unit
    of work's ``is_conflict`` says yes to it, as to a unique-key clash or a deadlock)."""
