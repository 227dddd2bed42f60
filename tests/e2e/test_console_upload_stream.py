"""Console uploads go to disk as they arrive, under the data directory, never held whole in memory: an upload over
the limit is refused with 413 naming the limit (whether the size is announced or not) and leaves no file behind; a
refused file leaves nothing either; an accepted one waits in a private folder in ``uploads`` beside the database's
key file. The streaming form reader also takes a file split across many small chunks."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.e2e.console_support import console_client, csrf_of, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.console.views.import_jobs import MAX_UPLOAD_BYTES, UploadError
from touchflow.console.views.upload_stream import UploadTooLarge, receive_upload

BOUNDARY = "tfboundary"


def _form(file_bytes: bytes, name: str = "名单.csv") -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="kind"\r\n\r\ncontacts\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="source"\r\n\r\ncrm\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f'Content-Type: text/csv\r\n\r\n').encode() + file_bytes + f"\r\n--{BOUNDARY}--\r\n".encode()


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_uploads_stream_to_the_data_directory_and_the_limit_is_a_413(app: Application, clock: VirtualClock) -> None:
    uploads = app.upload_directory()
    assert uploads is not None
    with console_client(app) as client:
        sign_in(client, app, clock, "li.na@example.cn", "strategist")
        csrf = csrf_of(client.get("/imports").text)
        headers = {"X-CSRF-Token": csrf, "HX-Request": "true",
                   "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        announced = client.post("/imports", content=b"x", headers={**headers, "Content-Length": str(60 * 1024 * 1024)})
        assert announced.status_code == 413 and "文件超过 50 MB" in announced.text
        big = _form(b"email\n" + b"a" * (MAX_UPLOAD_BYTES + 100 * 1024))
        streamed = client.post("/imports", content=iter([big[i:i + 1 << 20] for i in range(0, len(big), 1 << 20)]),
                               headers=headers)
        assert streamed.status_code == 413 and "50 MB" in streamed.text
        assert _files(uploads) == []  # nothing of the refused upload is left
        refused = client.post("/imports", content=_form(b"MZ", "a.exe"), headers=headers)
        assert refused.status_code == 422 and 'data-field="file"' in refused.text and _files(uploads) == []
        fine = client.post("/imports", content=_form("email,姓名\na@example.cn,张伟\n".encode()), headers=headers)
        assert fine.status_code == 204, fine.text
        [kept] = _files(uploads)
        assert kept.name == "名单.csv" and "张伟" in kept.read_text(encoding="utf-8")
        assert stat.S_IMODE(os.stat(kept.parent).st_mode) == 0o700


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_the_form_reader_takes_any_chunking(tmp_path: Path, size: int) -> None:
    body = _form(b"email\r\n--not-a-boundary\r\na@b.cn\r\n")
    fields, file = asyncio.run(receive_upload(_chunks(body, size), f"multipart/form-data; boundary={BOUNDARY}",
                                              tmp_path, 1024))
    assert fields == {"kind": "contacts", "source": "crm"}
    assert file is not None and file[0] == "名单.csv"
    assert file[1].read_bytes() == b"email\r\n--not-a-boundary\r\na@b.cn\r\n"


def test_the_form_reader_stops_at_the_limit_and_at_a_cut_off_body(tmp_path: Path) -> None:
    kind = f"multipart/form-data; boundary={BOUNDARY}"
    with pytest.raises(UploadTooLarge):
        asyncio.run(receive_upload(_chunks(_form(b"x" * 200_000), 1000), kind, tmp_path, 10))
    with pytest.raises(UploadError, match="ended early"):
        asyncio.run(receive_upload(_chunks(_form(b"abc")[:-20], 5), kind, tmp_path, 1024))
