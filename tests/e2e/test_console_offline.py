"""The console works on an intranet: no page names a URL off this server, every file a page loads is served
from the package, and the vendored files are the ones VENDORED.json records."""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources

from fastapi.routing import iter_route_contexts

from tests.e2e.console_support import console_client, sign_in
from touchflow.bootstrap import Application
from touchflow.clock import VirtualClock

_EXTERNAL = re.compile(r"""(?:src|href|action|content)\s*=\s*["']\s*(?:[a-z][a-z0-9+.-]*:)?//""", re.IGNORECASE)
_LOADED = re.compile(r"""(?:src|href)="(/static/[^"]+)\"""")
_CSS_REMOTE = re.compile(r"""@import|url\(\s*["']?(?:https?:)?//""", re.IGNORECASE)


def _pages(client_app: object) -> list[str]:
    """Every console GET route without path parameters."""
    return sorted({str(c.path) for c in iter_route_contexts(client_app.routes)  # type: ignore[attr-defined]
                   if getattr(c.original_route, "endpoint", None) is not None
                   and c.original_route.endpoint.__module__.startswith("touchflow.console.views")
                   and "GET" in getattr(c.original_route, "methods", set()) and "{" not in str(c.path)})


def test_no_page_references_an_external_url(app: Application, clock: VirtualClock) -> None:
    with console_client(app) as client:
        login = client.get("/login")
        assert login.status_code == 200
        sign_in(client, app, clock, "admin@example.cn", "admin")
        pages = _pages(client.app)
        assert {"/login", "/preferences", "/dashboard", "/contacts", "/tasks", "/journeys"} <= set(pages)
        loaded: set[str] = set()
        for path in pages:
            answer = client.get(path, follow_redirects=True)
            assert answer.status_code == 200, (path, answer.status_code)
            assert not _EXTERNAL.search(answer.text), f"{path} names a URL off this server"
            assert "script-src 'self'" in answer.headers["content-security-policy"]
            assert "<script>" not in answer.text, f"{path} has an inline script (the CSP refuses it)"
            loaded |= set(_LOADED.findall(answer.text))
        assert "/static/vendor/htmx/htmx.min.js" in loaded and "/static/vendor/tabler/css/tabler.min.css" in loaded
        for asset in sorted(loaded):
            got = client.get(asset)
            assert got.status_code == 200, asset
            if asset.endswith(".css"):
                assert not _CSS_REMOTE.search(got.text), f"{asset} imports from elsewhere"
        assert client.get("/static/../pyproject.toml").status_code == 404
        assert client.get("/static/vendor/nothing.js").status_code == 404


def test_vendored_files_match_their_record() -> None:
    folder = resources.files("touchflow.console") / "static" / "vendor"
    record = json.loads((folder / "VENDORED.json").read_text(encoding="utf-8"))
    names = {entry["name"] for entry in record}
    assert names == {"@tabler/core", "htmx.org", "vega", "vega-lite", "vega-embed", "axe-core"}
    for entry in record:
        assert re.fullmatch(r"\d+\.\d+\.\d+", entry["version"]), entry  # pinned, exact
        assert entry["license_file"] in entry["files"], f"{entry['name']} ships without its licence"
        for path, digest in entry["files"].items():
            assert hashlib.sha256((folder / path).read_bytes()).hexdigest() == digest, path
