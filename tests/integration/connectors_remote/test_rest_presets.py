"""The rest_api kind against local fakes of HubSpot, Salesforce, 纷享销客 and a generic paged API."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.crm_apis import FakeCrm
from tests.integration.connectors_remote.dlt_run import collect
from touchflow.domain.errors import FieldError
from touchflow.engine.connectors.kinds import SourceRequest, get_kind
from touchflow.engine.connectors.rest_presets import build_rest_source

# A socket left by an earlier test (urllib3 drops one after a timeout or a retry) may be collected while this
# module's first test runs; as in test_remote_runs.py, that warning is not this module's failure.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def _contacts(n: int) -> list[dict[str, Any]]:
    return [{"id": str(1000 + i), "email": f"p{i}@example.cn", "lastname": f"L{i}", "phone": None,
             "modified": f"2026-01-{i + 1:02d}T08:00:00Z", "modified_ms": 1767254400000 + i * 86_400_000}
            for i in range(n)]


@pytest.fixture
def crm() -> Iterator[FakeCrm]:
    fake = FakeCrm(_contacts(7)).start()
    yield fake
    fake.stop()


def _request(settings: dict[str, Any], secrets: dict[str, str], cursor: str | None = None,
             value: Any = None) -> SourceRequest:
    fast = {"backoff_s": 0, "max_delay_s": 2, "timeout_s": 2, "max_attempts": 4}
    return SourceRequest("crm", {**fast, **settings}, secrets, cursor, value, "contacts")


def test_rest_api_kind_is_registered_without_importing_dlt_until_built(crm: FakeCrm, tmp_path: Path) -> None:
    kind = get_kind("rest_api")
    assert kind.build is not None and "token" in kind.secret_names
    req = _request({"preset": "hubspot", "base_url": crm.url}, {"token": FakeCrm.HUBSPOT_TOKEN})
    assert len(collect(kind.build(req), tmp_path)) == 7


def test_hubspot_full_read_pages_with_after(crm: FakeCrm, tmp_path: Path) -> None:
    req = _request({"preset": "hubspot", "base_url": crm.url, "page_size": 3}, {"token": FakeCrm.HUBSPOT_TOKEN})
    rows = collect(build_rest_source(req), tmp_path)
    assert sorted(r["email"] for r in rows) == [f"p{i}@example.cn" for i in range(7)]
    assert rows[0]["hubspot_id"] == "1000" and "properties" not in rows[0]  # flat rows, ready for mapping
    pages = crm.requests_to("/crm/v3/objects/contacts")
    assert [p.query.get("after") for p in pages] == [None, "3", "6"]


def test_hubspot_incremental_uses_search_from_the_committed_cursor(crm: FakeCrm, tmp_path: Path) -> None:
    req = _request({"preset": "hubspot", "base_url": crm.url, "page_size": 2}, {"token": FakeCrm.HUBSPOT_TOKEN},
                   "lastmodifieddate", "2026-01-05T08:00:00Z")
    rows = collect(build_rest_source(req), tmp_path)
    assert [r["email"] for r in rows] == ["p4@example.cn", "p5@example.cn", "p6@example.cn"]
    bodies = [r.json() for r in crm.requests_to("/crm/v3/objects/contacts/search")]
    assert bodies[0]["filterGroups"][0]["filters"][0]["value"] == "2026-01-05T08:00:00Z"
    assert [b.get("after") for b in bodies] == [None, "2"]


def test_hubspot_wrong_token_fails_the_run(crm: FakeCrm, tmp_path: Path) -> None:
    req = _request({"preset": "hubspot", "base_url": crm.url}, {"token": "wrong"})
    with pytest.raises(Exception, match="401"):
        collect(build_rest_source(req), tmp_path)
    assert len(crm.log) == 1  # a 401 is not retried


# urllib3 drops the timed-out connection without closing its socket object; GC may report it during this test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_retries_5xx_429_and_timeouts_honouring_retry_after(crm: FakeCrm, tmp_path: Path) -> None:
    crm.fail_next("5xx", "429", "timeout")
    crm.stall_s = 1.3  # just past the client timeout: the server thread is done before the test ends
    req = _request({"preset": "hubspot", "base_url": crm.url, "page_size": 3, "timeout_s": 1},
                   {"token": FakeCrm.HUBSPOT_TOKEN})
    rows = collect(build_rest_source(req), tmp_path)
    assert len(rows) == 7 and len({r["email"] for r in rows}) == 7  # nothing lost, nothing doubled
    assert len(crm.log) == 3 + 3 and crm.rate_limited == 1
    gc.collect()  # collect the dropped socket here, where its warning is expected, not in a later test


def test_rate_limit_window_is_respected(crm: FakeCrm, tmp_path: Path) -> None:
    crm.rate_limit, crm.window_s, crm.retry_after_s = 2, 1.0, 1
    req = _request({"preset": "hubspot", "base_url": crm.url, "page_size": 1}, {"token": FakeCrm.HUBSPOT_TOKEN})
    rows = collect(build_rest_source(req), tmp_path)
    assert len(rows) == 7
    assert crm.rate_limited >= 1  # it was told to slow down, waited Retry-After and finished


def test_salesforce_soql_follows_next_records_url(crm: FakeCrm, tmp_path: Path) -> None:
    req = _request({"preset": "salesforce", "base_url": crm.url,
                    "soql": "SELECT Id, Email, LastName, SystemModstamp FROM Contact"},
                   {"token": FakeCrm.SF_TOKEN}, "SystemModstamp", "2026-01-03T08:00:00.000+0000")
    rows = collect(build_rest_source(req), tmp_path)
    assert [r["Email"] for r in rows] == [f"p{i}@example.cn" for i in range(2, 7)]
    assert "attributes" not in rows[0]
    queries = crm.requests_to("/services/data/v59.0/query")
    assert "SystemModstamp >= 2026-01-03T08:00:00.000+0000 ORDER BY SystemModstamp ASC" in queries[0].query["q"]
    assert [q.path.rsplit("-", 1)[-1] for q in queries[1:]] == ["2", "4"]


def test_fxiaoke_offset_paging_with_corp_access_token(crm: FakeCrm, tmp_path: Path) -> None:
    req = _request({"preset": "fxiaoke", "base_url": crm.url, "app_id": FakeCrm.FX_APP, "open_user_id": "FSUID_1",
                    "page_size": 3},
                   {"app_secret": FakeCrm.FX_SECRET, "permanent_code": FakeCrm.FX_PERMANENT},
                   "last_modified_time", 1767254400000 + 86_400_000)
    rows = collect(build_rest_source(req), tmp_path)
    assert [r["email"] for r in rows] == [f"p{i}@example.cn" for i in range(1, 7)]
    offsets = [r.json()["data"]["search_query_info"]["offset"] for r in crm.requests_to("/cgi/crm/v2/data/query")]
    assert offsets == [0, 3]


def test_fxiaoke_bad_app_secret_is_a_clear_error(crm: FakeCrm, tmp_path: Path) -> None:
    req = _request({"preset": "fxiaoke", "base_url": crm.url, "app_id": FakeCrm.FX_APP, "open_user_id": "u"},
                   {"app_secret": "nope", "permanent_code": FakeCrm.FX_PERMANENT})
    with pytest.raises(Exception, match="20001"):
        build_rest_source(req)


@pytest.mark.parametrize(("mode", "paginator", "auth", "secrets"), [
    ("page", {"type": "page_number", "total_path": "total_pages"}, {"type": "bearer"},
     {"token": FakeCrm.GENERIC_TOKEN}),
    ("offset", {"type": "offset", "limit": 2, "total_path": "total"}, {"type": "api_key", "name": "X-API-Key"},
     {"api_key": FakeCrm.GENERIC_KEY}),
    ("cursor", {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"}, {"type": "basic"},
     {"username": "svc", "password": FakeCrm.GENERIC_KEY}),
    ("link", {"type": "next_link", "next_url_path": "next"}, {"type": "bearer"}, {"token": FakeCrm.GENERIC_TOKEN}),
])
def test_generic_paginators_and_auth(crm: FakeCrm, tmp_path: Path, mode: str, paginator: dict[str, Any],
                                     auth: dict[str, Any], secrets: dict[str, str]) -> None:
    crm.generic_auth = {"bearer": "bearer", "api_key": "api_key", "basic": "basic"}[auth["type"]]
    req = _request({"preset": "generic", "base_url": crm.url, "path": f"generic/{mode}", "data_selector": "items",
                    "paginator": paginator, "auth": auth}, secrets, "updated_at", "2026-01-02T08:00:00Z")
    req = SourceRequest(req.connector_name, {**req.settings, "cursor_param": "since"}, req.secrets,
                        req.cursor_field, req.cursor_value, req.record_kind)
    rows = collect(build_rest_source(req), tmp_path, mode)
    assert [r["email"] for r in rows] == [f"p{i}@example.cn" for i in range(1, 7)]
    assert all(r.query["since"] == "2026-01-02T08:00:00Z" for r in crm.log)


@pytest.mark.parametrize(("settings", "field"), [
    ({"preset": "nope"}, "preset"),
    ({"preset": "generic", "base_url": "http://x", "path": "p", "paginator": {"type": "zigzag"}}, "paginator.type"),
    ({"preset": "generic", "base_url": "http://x", "path": "p", "paginator": "x"}, "paginator"),
    ({"preset": "hubspot", "page_size": 500}, "page_size"),
    ({"preset": "generic", "base_url": "http://x", "path": "p", "paginator": {"type": "page_number"},
      "auth": {"type": "oauth"}}, "auth.type"),
])
def test_bad_settings_name_the_field(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as caught:
        build_rest_source(_request(settings, {"token": "t"}))
    assert caught.value.field == field
