"""RFC 5322 messages written directly: multipart text + HTML, deterministic Message-ID, headers kept intact.

Written by hand because ``EmailMessage.as_bytes()`` costs ~2 ms per multipart message and folds a long
``List-Unsubscribe`` URL into RFC 2047 encoded-words, which breaks one-click unsubscribe.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from urllib.parse import quote

from touchflow.channels.base import Attachment, Outgoing

__all__ = ["ascii_address", "build_message", "split_address"]

_RESERVED = frozenset({"from", "to", "subject", "date", "message-id", "mime-version", "content-type",
                       "content-transfer-encoding", "x-touchflow-message", "return-path"})


def split_address(address: str) -> tuple[str, str]:
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(c in address for c in " \t\r\n<>,;\"()"):
        raise ValueError(f"not an email address: {address!r}")
    return local, domain


def ascii_address(address: str) -> tuple[str, bool]:
    """The address with an IDNA domain, and whether its local part needs SMTPUTF8."""
    local, domain = split_address(address)
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}", not local.isascii()


def _header(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} contains a line break")
    if not value.isascii():
        value = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    elif len(name) + 2 + len(value) > 998:
        raise ValueError(f"header {name} is longer than 998 characters")
    return f"{name}: {value}\r\n"


def _part(content: str, subtype: str, *, alone: bool) -> str:
    """One text part, canonical CRLF line breaks; quoted-printable when ASCII, else base64.

    Inside a multipart the CRLF before the next boundary belongs to the boundary, so one is always
    added; a part that is the whole message only needs its data to end with CRLF.
    """
    text = content.replace("\r\n", "\n").replace("\r", "\n")
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
    if text.isascii():
        body = binascii.b2a_qp(text.encode("ascii"), istext=True).decode("ascii").replace("\n", "\r\n")
        cte = "quoted-printable"
    else:
        encoded = binascii.b2a_base64(text.replace("\n", "\r\n").encode("utf-8"), newline=False).decode("ascii")
        body = "\r\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
        cte = "base64"
    end = "" if alone and body.endswith("\r\n") else "\r\n"
    return f"{head}Content-Transfer-Encoding: {cte}\r\n\r\n{body}{end}"


@functools.lru_cache(maxsize=16)
def _from(name: str | None, address: str) -> tuple[str, str]:
    """(ASCII sender address, From header line); the same for every message of a channel."""
    sender, _ = ascii_address(address)
    return sender, _header("From", formataddr((name or "", sender), charset="utf-8"))


def build_message(from_name: str | None, from_address: str, message: Outgoing,
                  now: datetime) -> tuple[bytes, str, bool]:
    """(RFC 5322 bytes, Message-ID, needs SMTPUTF8). The Message-ID and MIME boundary come from the
    idempotency key, so a resend of one message carries the same Message-ID. Raises ``ValueError``."""
    digest = hashlib.sha256(message.idempotency_key.encode("utf-8")).hexdigest()
    to, utf8 = ascii_address(message.to)
    sender, from_header = _from(from_name, from_address)
    message_id = f"<{digest[:32]}@{sender.rpartition('@')[2]}>"
    lines = [from_header, f"To: {to}\r\n",
             _header("Subject", message.subject or ""), f"Date: {format_datetime(now)}\r\n",
             f"Message-ID: {message_id}\r\n", _header("X-Touchflow-Message", message.message_id)]
    for name, value in message.headers.items():
        if name.lower() in _RESERVED or not name.isascii() or not name.replace("-", "").isalnum():
            raise ValueError(f"header {name!r} is set by the channel or not a header name")
        lines.append(_header(name, value))
    lines.append("MIME-Version: 1.0\r\n")
    if message.attachments:
        mixed = f"=_tfm_{digest[40:64]}"
        lines.append(f'Content-Type: multipart/mixed; boundary="{mixed}"\r\n\r\n--{mixed}\r\n')
        lines.append(_body(message, digest, alone=False))
        for attachment in message.attachments:
            lines.extend((f"--{mixed}\r\n", _attachment(attachment)))
        lines.append(f"--{mixed}--\r\n")
    else:
        lines.append(_body(message, digest, alone=True))
    return "".join(lines).encode("utf-8"), message_id, utf8


def _attachment(attachment: Attachment) -> str:
    """A base64 part with an RFC 2231 filename (Chinese names survive)."""
    if "/" not in attachment.media_type or any(c in attachment.media_type for c in ' ;"\r\n'):
        raise ValueError(f"attachment media type {attachment.media_type!r} is not a type/subtype")
    name = attachment.filename.replace("\r", "").replace("\n", "").replace('"', "")
    disposition = (f'attachment; filename="{name}"' if name.isascii() else
                   f"attachment; filename*=utf-8''{quote(name, safe='')}")
    encoded = binascii.b2a_base64(attachment.data, newline=False).decode("ascii")
    body = "\r\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    return (f"Content-Type: {attachment.media_type}\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: {disposition}\r\n\r\n{body}\r\n")


def _body(message: Outgoing, digest: str, *, alone: bool) -> str:
    """The text (and HTML) of the message: one part, or multipart/alternative."""
    if message.html is None:
        return _part(message.text, "plain", alone=alone)
    boundary = f"=_tf_{digest[32:56]}"
    return "".join((f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n',
                    f"--{boundary}\r\n", _part(message.text, "plain", alone=False), f"--{boundary}\r\n",
                    _part(message.html, "html", alone=False), f"--{boundary}--\r\n"))
