"""Schemathesis over the whole OpenAPI document: every operation, every built-in check, in process.

The app runs on a migrated SQLite database with a live API key; generation is derandomized (the same
cases every run) and bounded so the run stays within about two minutes on two cores. Any 5xx, any
answer the document does not describe (status, content type, headers, body schema), any valid request
refused or invalid one accepted fails the test, naming the operation and a curl line to replay it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.generation.case import Case

from touchflow.api import create_app
from touchflow.bootstrap import bootstrap
from touchflow.clock import VirtualClock
from touchflow.config import Settings
from touchflow.services.apikeys import create_api_key

MAX_EXAMPLES = 8  # per operation and phase; ~60 operations x 2 phases stays under two minutes


@pytest.fixture(scope="module")
def wired(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    database = tmp_path_factory.mktemp("fuzz") / "touchflow.db"
    application = bootstrap(Settings(f"sqlite:///{Path(database).as_posix()}"),
                            clock=VirtualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)))
    application.init_database()  # the Alembic migrations, as a deployment runs them
    key = create_api_key(application.services, "fuzz", actor="test").secret
    yield create_app(application), key
    application.close()


def test_every_operation_answers_as_documented(wired: tuple[Any, str]) -> None:
    app, key = wired
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation the document describes in a way no client can use
            failures.append(f"invalid schema: {result.err()}")
            continue
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
                      suppress_health_check=list(HealthCheck))
            def answers_as_documented(case: Case) -> None:
                case.call_and_validate(headers={"Authorization": f"Bearer {key}"})

            try:
                answers_as_documented()
            except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters, no body)
                continue
            except (Exception, FailureGroup) as exc:  # collect every operation's failure, then report them all
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert operations > 40
    assert not failures, f"{len(failures)} failing operation(s):\n\n" + "\n\n".join(failures)
