"""Receiving an uploaded file without holding it in memory: the ``multipart/form-data`` body is read as it
arrives and its file part written straight to a private folder under the data directory, counting bytes; past the
limit the upload stops at once (``UploadTooLarge``: a 413 naming the limit) and the caller removes the folder.

A small streaming parser (no python-multipart): text fields are kept (at most 4 KiB each), one file part at most.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from touchflow.console.views.import_jobs import UploadError

__all__ = ["FORM_OVERHEAD", "UploadTooLarge", "receive_upload"]

FORM_OVERHEAD = 64 * 1024  # the form's other fields and part headers, beyond the file itself
_FIELD_MAX = 4096
_HEADERS_MAX = 16 * 1024
_BOUNDARY = re.compile(r'boundary="?([^";]{1,200})"?', re.I)


class UploadTooLarge(UploadError):
    def __init__(self, limit: int) -> None:
        super().__init__("file", f"over {limit // (1024 * 1024)} MB: use `touchflow import` on the server")
        self.limit = limit


class _Part:
    def __init__(self, name: str, filename: str | None, folder: Path) -> None:
        self.name, self.filename = name, filename
        self.path = folder / "incoming.part" if filename is not None else None
        self.handle: BinaryIO | None = self.path.open("wb") if self.path is not None else None
        self.text = bytearray()

    def write(self, data: bytes | bytearray) -> None:
        if self.handle is not None:
            self.handle.write(data)
        elif len(self.text) < _FIELD_MAX:
            self.text += data[:_FIELD_MAX - len(self.text)]

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def _part_of(headers: bytes, folder: Path, have_file: bool) -> _Part:
    message = email.parser.BytesHeaderParser(policy=email.policy.HTTP).parsebytes(headers + b"\r\n\r\n")
    name = message.get_param("name", header="content-disposition")
    filename = message.get_filename()
    if filename is not None and have_file:
        raise UploadError("file", "send one file at a time")
    return _Part(name if isinstance(name, str) else "", filename, folder)


async def receive_upload(chunks: AsyncIterator[bytes], content_type: str, folder: Path,
                         limit: int) -> tuple[dict[str, str], tuple[str, Path] | None]:
    """The form's text fields and its file (name, where it was written in ``folder``)."""
    found = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/form-data") or found is None:
        raise UploadError("file", "send the form as multipart/form-data")
    delimiter = b"--" + found.group(1).encode("latin-1")
    separator = b"\r\n" + delimiter
    buffer, total, state = bytearray(), 0, "preamble"
    fields: dict[str, str] = {}
    upload: tuple[str, Path] | None = None
    part: _Part | None = None
    try:
        async for chunk in chunks:
            total += len(chunk)
            if total > limit + FORM_OVERHEAD:
                raise UploadTooLarge(limit)
            buffer += chunk
            while True:
                if state == "preamble":
                    at = buffer.find(delimiter)
                    if at < 0:
                        del buffer[:max(0, len(buffer) - len(delimiter))]
                        break
                    del buffer[:at + len(delimiter)]
                    state = "after"
                elif state == "after":
                    if len(buffer) < 2:
                        break
                    if buffer[:2] == b"--":
                        state = "done"
                        break
                    if buffer[:2] != b"\r\n":
                        raise UploadError("file", "not a readable multipart form")
                    del buffer[:2]
                    state = "headers"
                elif state == "headers":
                    end = buffer.find(b"\r\n\r\n")
                    if end < 0:
                        if len(buffer) > _HEADERS_MAX:
                            raise UploadError("file", "not a readable multipart form")
                        break
                    part = _part_of(bytes(buffer[:end]), folder, upload is not None)
                    del buffer[:end + 4]
                    state = "body"
                elif state == "body" and part is not None:
                    at = buffer.find(separator)
                    if at < 0:
                        safe = max(0, len(buffer) - len(separator))
                        part.write(buffer[:safe])
                        del buffer[:safe]
                        break
                    part.write(buffer[:at])
                    del buffer[:at + len(separator)]
                    part.close()
                    if part.path is not None and part.filename is not None:
                        upload = (part.filename, part.path)
                    elif part.name:
                        fields[part.name] = part.text.decode("utf-8", "replace")[:1000]
                    part, state = None, "after"
                else:
                    break
    finally:
        if part is not None:
            part.close()
    if state != "done":
        raise UploadError("file", "the upload ended early: send it again")
    return fields, upload
