"""Schemathesis over the whole OpenAPI document: every operation, every built-in check, in process.

The app runs on a migrated SQLite database with a live API key. Each operation gets the test the
schemathesis pytest plugin would build for it: the examples and coverage phases (boundary values,
missing or wrongly-typed parameters, methods the path does not take) and the fuzzing phase, positive
and negative. Generation is derandomized (the same cases every run) and bounded so the run stays well
under two minutes on two cores. Any 5xx, any answer the document does not describe (status, content type,
headers, body schema, Allow), any invalid request accepted or valid one refused fails the test, naming
the operation, the check and a curl line to replay it.

Schemathesis is pinned (pyproject.toml, the `test` extra): the per-operation test builder lives in its
pytest package (``schemathesis.pytest._test_builder``), whose ``from_fixture`` loader does not run on
pytest 9 (it sets ``node._nodeid``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.generation.case import Case
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.python._constants.orchestrator import make_constants_value_source
from schemathesis.schemas import APIOperation, BaseSchema

from touchflow.api import create_app
from touchflow.bootstrap import bootstrap
from touchflow.clock import VirtualClock
from touchflow.config import Settings
from touchflow.services.apikeys import create_api_key

MAX_EXAMPLES = 50  # fuzzing cases per operation and mode (coverage cases come on top): ~50 s in all

# positive_data_acceptance expects every schema-valid request to succeed. These operations check rules
# no JSON Schema states, so a schema-valid request may rightly get a 4xx; every other check still runs.
BEYOND_THE_SCHEMA = {
    "POST /v1/events": "each event needs a usable identity (a real email, phone …) and a known type shape",
    "POST /v1/contacts": "identities are parsed (email, phone numbers) and a contact needs one usable",
    "PATCH /v1/contacts/{identifier}": "standard attributes are parsed (age, gender, lengths per column)",
    "POST /v1/journeys": "a definition must pass the journey linter (reachable nodes, known templates …)",
    "PUT /v1/journeys/{key}/definition": "a draft is a YAML mapping whose key is the path's; If-Match is checked",
    "POST /v1/journeys/edit": "graph operations name existing nodes and known ways out",
    "POST /v1/journeys/{key}/dry-run": "the definition is a journey's YAML text and the contact one that exists",
    "POST /v1/journeys/{key}/scenario-run": "the scenario and the definition are YAML documents of their schemas",
    "POST /v1/journeys/{key}/impact": "the definition is a journey's YAML text whose key is the path's",
    "POST /v1/journeys/copy": "the text is a journey's YAML and the nodes and notes copied name ones in it",
    "GET /v1/journeys/{key}/live": "`from` and `to` are real calendar days (the pattern admits 0000-00-00), in order",
    "POST /v1/templates": "templates are compiled and checked by channel (an email needs a subject)",
    "POST /v1/reviews/{review_id}/approve": "the reviewer must be named by visible characters",
    "POST /v1/reviews/{review_id}/reject": "a rejection must say what to change (comment)",
    "POST /v1/personas": "a persona document is parsed and checked as a whole",
    "POST /v1/segments": "a condition must be well-formed in the condition language",
    "POST /v1/segments/preview": "a condition must be well-formed in the condition language",
    "POST /v1/exports": "a segment export names an existing segment",
    "POST /v1/incidents": "since is an ISO 8601 time with a zone (checked by datetime.fromisoformat)",
    "POST /v1/experiments": "an experiment names a published journey, its split node and existing segments",
    "POST /v1/experiments/{key}/stop": "a stop must say why (a reason with visible characters)",
    "PATCH /v1/experiments/{key}": "a draft's editable fields, each valued as on create (a published version …)",
    "GET /v1/metrics": "`from` must not be after `to` (at most 400 days), `journey` must name a journey",
    "GET /v1/metrics/nps": "`from` must not be after `to` (at most 400 days)",
    "GET /v1/journeys/{key}/explain": "the period must run forwards; `by` may also be tag:NAME",
    "PUT /v1/alerts/{name}": "a rule document is parsed and checked as a whole (metric, baseline, action …)",
    "POST /v1/callbacks/sms/inbound": "provider payload shapes are recognised, not described",
    "GET /v1/attribution": "the span must run forwards (from before to)",
    "GET /v1/attribution/roi": "the span must run forwards (from before to)",
    "GET /v1/attribution/touchpoints": "the span must run forwards (from before to)",
    "PUT /v1/attribution/settings": "costs are decimal numbers 0–1000 and the window a duration up to 90d",
    "POST /v1/callbacks/sms/receipt": "provider payload shapes are recognised, not described",
    "POST /v1/callbacks/email/report": "the body must be a real bounce or complaint report",
    "GET /v1/audit": "since/until must be real calendar times (a pattern cannot say month <= 12)",
    "GET /t/c/{token}": "the token must carry a valid signature",
    "GET /t/u/{token}": "the token must carry a valid signature",
    "POST /t/u/{token}": "the token must carry a valid signature",
    "GET /t/p/{token}": "the token must carry a valid signature",
    "POST /t/p/{token}": "the token must carry a valid signature",
    "POST /v1/auth/login": "the email and password must belong to an account",
    "POST /v1/auth/enrol": "needs the pending session cookie /v1/auth/login sets",
    "POST /v1/auth/verify": "needs the pending session cookie and a valid code",
    "GET /v1/auth/me": "needs an active session cookie",
    "POST /v1/auth/logout": "needs an active session cookie and its CSRF token",
    "POST /v1/auth/logout-all": "needs an active session cookie and its CSRF token",
    "POST /v1/connectors": "kind must be a registered kind, settings what it needs, schedule a cron or realtime",
}

# allow_header_conformance compares Allow with the methods documented for this literal path; these paths
# are also an instance of a templated one, whose methods the server rightly lists too.
SHARED_PATHS = {
    "POST /v1/segments/preview": "DELETE /v1/segments/{key} with key=preview (a valid segment key)",
    "POST /v1/journeys/edit": "GET /v1/journeys/{key} with key=edit (a valid journey key)",
    "POST /v1/journeys/lint": "GET /v1/journeys/{key} with key=lint (a valid journey key)",
    "POST /v1/journeys/copy": "GET /v1/journeys/{key} with key=copy (a valid journey key)",
}


@pytest.fixture(scope="module")
def wired(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    database = tmp_path_factory.mktemp("fuzz") / "touchflow.db"
    application = bootstrap(Settings(f"sqlite:///{Path(database).as_posix()}", config_dir=str(database.parent)),
                            clock=VirtualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)))
    application.init_database()  # the Alembic migrations, as a deployment runs them
    application.create_secret_key()  # as `touchflow init` does: tracking links are checked with it
    key = create_api_key(application.services, "fuzz", actor="test").secret
    yield create_app(application), key
    application.close()


def fuzz(schema: BaseSchema, operation: APIOperation, feedback: FeedbackSources, key: str) -> str | None:
    """Run every phase on one operation; the failure report, or None."""
    excluded = [checks.positive_data_acceptance] if operation.label in BEYOND_THE_SCHEMA else []
    if operation.label in SHARED_PATHS:
        excluded.append(checks.allow_header_conformance)

    def answers_as_documented(case: Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, excluded_checks=excluded)

    test = build_operation_test(
        config=schema.config, operation=operation, test_func=answers_as_documented, given_kwargs={},
        feedback=feedback, explicit_settings=settings(
            max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
            phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
            suppress_health_check=list(HealthCheck)))
    try:
        test()
    except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters, no body)
        return None
    except (Exception, FailureGroup) as exc:
        return f"{operation.label}: {exc}"
    return None


def test_every_operation_answers_as_documented(wired: tuple[Any, str]) -> None:
    app, key = wired
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    every_check = schema.config.checks
    assert all(every_check.get_by_name(name=name).enabled for name in (
        "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
        "response_schema_conformance", "positive_data_acceptance", "negative_data_rejection",
        "missing_required_header", "ignored_auth", "unsupported_method", "allow_header_conformance",
        "use_after_free", "ensure_resource_availability", "object_level_authorization"))
    rejection = schema.config.checks.negative_data_rejection  # a batch over its item limit is a documented 413
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    feedback = FeedbackSources(constants_value_source=make_constants_value_source(schema))
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # an operation the document describes in a way no client can use
            failures.append(f"invalid schema: {result.err()}")
            continue
        operations += 1
        found = fuzz(schema, result.ok(), feedback, key)
        if found is not None:
            failures.append(found)
    assert operations > 50
    assert not failures, f"{len(failures)} failing operation(s):\n\n" + "\n\n".join(failures)
