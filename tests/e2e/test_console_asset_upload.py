"""The asset library receives an upload like an import does: written to a private folder under the data directory as
it arrives, never held whole in memory. Over the 5 MB limit — announced by Content-Length (even past the API's
16 MiB body limit) or found while streaming — the answer is a 413 in the reader's language naming the limit, and no
file is left behind; a file within the limit is saved as a version and its folder removed."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.console_support import console_client, csrf_of, sign_in
from tests.e2e.test_console_content import PNG
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock
from touchflow.services.content import MAX_ASSET_BYTES, list_assets

BOUNDARY = "tfasset"


def _form(data: bytes, name: str = "banner.png") -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{name}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f'Content-Type: image/png\r\n\r\n').encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_an_asset_over_the_limit_is_a_413_in_chinese_and_leaves_nothing(app: Application, clock: VirtualClock) -> None:
    uploads = app.upload_directory()
    assert uploads is not None
    with console_client(app) as editor:
        sign_in(editor, app, clock, "editor@example.cn", "editor", "王编辑")
        csrf = csrf_of(editor.get("/content/assets").text)
        htmx = {"X-CSRF-Token": csrf, "HX-Request": "true", "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        big = _form(PNG + b"\x00" * (MAX_ASSET_BYTES + 100 * 1024))
        streamed = editor.post("/content/assets", content=iter([big[i:i + 65536] for i in range(0, len(big), 65536)]),
                               headers=htmx)  # chunked: no Content-Length, the limit is found while streaming
        assert streamed.status_code == 413 and 'data-problem="too_large"' in streamed.text
        assert "文件超过 5 MB（单个素材的上限）" in streamed.text and "over 5 MB" not in streamed.text
        assert _files(uploads) == []
        announced = editor.post("/content/assets", content=b"x",
                                headers={**htmx, "Content-Length": str(20 * 1024 * 1024)})  # past the API's 16 MiB
        assert announced.status_code == 413 and "文件超过 5 MB" in announced.text
        page = editor.post("/content/assets", content=big, headers={k: v for k, v in htmx.items()
                                                                    if k != "HX-Request"})
        assert page.status_code == 413 and "<h1" in page.text and "文件超过 5 MB" in page.text  # the whole page
        empty = editor.post("/content/assets", content=_form(b"", "e.txt"), headers=htmx)
        assert empty.status_code == 422 and "文件是空的" in empty.text and _files(uploads) == []
        fine = editor.post("/content/assets", content=_form(PNG), headers=htmx)
        assert fine.status_code == 204 and fine.headers["HX-Redirect"] == "/content/assets?saved=banner.png"
    assert [(a.name, a.size) for a in list_assets(app.services)] == [("banner.png", len(PNG))]
    assert _files(uploads) == []  # the asset is in the store; its upload folder is gone
