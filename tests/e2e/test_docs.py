"""``/docs`` works offline (Swagger UI from the package) under its CSP, and the OpenAPI document is true:
the real error body, the answers that can happen, every ``$ref`` resolvable."""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from tests.e2e.live_server import live_api
from touchflow.bootstrap import Application

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

CHROMIUM = "/usr/bin/chromium"
SWAGGER = resources.files("touchflow.api") / "static" / "swagger-ui"


def spec(client: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_docs_come_from_the_package_not_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/docs-assets/") for s in sources), sources
    assert "cdn" not in page.text.lower() and "http" not in page.text.replace("http-equiv", "")
    for name, media in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css"),
                        ("favicon-32x32.png", "image/png")):
        asset = client.get(f"/docs-assets/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(media)
        assert asset.content == (SWAGGER / name).read_bytes()
    assert client.get("/docs-assets/..%2Fdocs.py").status_code == 404
    assert client.get("/docs-assets/LICENSE").status_code == 404
    assert client.get("/redoc").status_code == 404  # ReDoc loads from a CDN: not offered
    readme = (SWAGGER / "README.md").read_text(encoding="utf-8")
    assert "swagger-ui-dist" in readme and "5.36.0" in readme and "Apache-2.0" in readme
    assert (SWAGGER / "LICENSE").read_text(encoding="utf-8").startswith("\n") or "Apache" in (
        SWAGGER / "LICENSE").read_text(encoding="utf-8")


def test_validation_errors_are_documented_with_their_real_shape(client: TestClient) -> None:
    document = spec(client)
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    problem = schemas["Problem"]["properties"]
    assert {"field", "in", "reason"} <= set(problem)
    for path, method, operation in operations(document):
        answer = operation["responses"].get("422")
        if operation.get("parameters") or operation.get("requestBody"):
            assert answer is not None, (method, path)
        if answer is not None:
            text = str(answer)
            assert "ErrorOut" in text, (method, path, answer)
    real = client.get("/v1/contacts", params={"limit": 0}).json()
    assert set(real) == {"detail", "errors"} and set(real["errors"][0]) == {"field", "in", "reason"}


def test_every_answer_that_can_happen_is_documented(client: TestClient) -> None:
    document = spec(client)
    for path, method, operation in operations(document):
        codes = set(operation["responses"])
        if path.startswith("/v1/") and path != "/v1/onsite/snippet.js":
            assert {"401", "403"} <= codes, (method, path)
        if method in ("post", "patch", "put", "delete"):
            assert {"400", "413", "503"} <= codes, (method, path)
            assert "Retry-After" in operation["responses"]["503"]["headers"]
        if path.startswith("/v1/onsite/") and path != "/v1/onsite/snippet.js":
            assert "429" in codes, (method, path)
    assert set(document["paths"]["/t/c/{token}"]["get"]["responses"]) >= {"302", "400"}


def test_every_ref_resolves_inside_the_document(client: TestClient) -> None:
    document = spec(client)
    refs = set(re.findall(r"'\$ref': '([^']+)'", str(document)))
    assert refs
    for ref in refs:
        assert ref.startswith("#/"), ref
        node: Any = document
        for part in ref[2:].split("/"):
            node = node[part]
        assert isinstance(node, dict) and node, ref


@pytest.fixture
def docs_url(app: Application) -> Iterator[str]:
    with live_api(app) as url:
        yield url


@pytest.mark.skipif(not os.path.exists(CHROMIUM) and os.environ.get("TOUCHFLOW_REQUIRE_BROWSER") != "1",
                    reason=f"browser test skipped: no Chromium at {CHROMIUM} (apt-get install chromium)")
def test_swagger_ui_renders_offline_under_its_csp(docs_url: str) -> None:
    from playwright.sync_api import Route, sync_playwright

    outside: list[str] = []
    problems: list[str] = []

    def only_this_server(route: Route) -> None:
        if route.request.url.startswith(docs_url):
            route.continue_()
        else:  # an intranet without internet: anything else fails
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.route("**/*", only_this_server)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(f"{docs_url}/docs")
            page.locator(".opblock-tag").first.wait_for(state="visible", timeout=20_000)
            tags = page.locator(".opblock-tag")
            assert tags.count() >= 20  # every area of the API is listed, folded
            page.locator(".opblock-tag", has_text="contacts").first.click()
            page.locator(".opblock-summary-path").first.wait_for(state="visible", timeout=20_000)
            assert page.locator(".opblock").count() >= 2
            page.locator(".opblock-tag", has_text="connectors").first.click()  # a late area opens too
            page.locator(".opblock-summary-path", has_text="/v1/connectors").first.wait_for(state="visible")
            assert "Touchflow API" in page.locator(".info .title").inner_text()
        finally:
            browser.close()
    assert outside == []
    assert [p for p in problems if "Content Security Policy" in p or "Refused" in p] == [], problems
