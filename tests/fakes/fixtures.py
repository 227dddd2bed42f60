"""The ``fake_providers`` fixture: a fresh local provider server for each test (it starts in milliseconds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.providers import FakeProviders


@pytest.fixture
def fake_providers() -> Iterator[FakeProviders]:
    fake = FakeProviders().start()
    try:
        yield fake
    finally:
        fake.stop()
