"""The HTTP client every API test uses: the real app on the test database, with an API key."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from touchflow.api import create_app
from touchflow.bootstrap import Application
from touchflow.services.apikeys import KeySpec, check_key_spec, issue_api_key

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient


@pytest.fixture
def client(app: Application) -> Iterator[TestClient]:
    """An admin key (every route allowed); tests/e2e/test_route_permissions.py covers the other roles."""
    key = issue_api_key(app.services, check_key_spec(KeySpec("tests", "admin", service_account="tests")),
                        actor="test").secret  # an admin key can export: issued directly, as no person asks
    with TestClient(create_app(app)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {key}"
        yield test_client
