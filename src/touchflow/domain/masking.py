"""Masked addresses for lists a person reads: enough to recognise a contact, not enough to copy the address."""

from __future__ import annotations

__all__ = ["mask_email", "mask_phone"]


def mask_phone(phone: str) -> str:
    """``+8613812341234`` → ``138****1234`` (mainland numbers lose +86); others keep their country code."""
    digits = phone[3:] if phone.startswith("+86") else phone
    if len(digits) <= 7:
        return f"{digits[:2]}***"
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def mask_email(email: str) -> str:
    """``zhang.wei@example.cn`` → ``z***@example.cn``: the first letter and the domain."""
    name, at, domain = email.partition("@")
    if not at:
        return f"{email[:1]}***"
    return f"{name[:1]}***@{domain}"
