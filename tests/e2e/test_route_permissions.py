"""Every route declares its permission, and every route × role pair gets exactly what the role table says (P2).

One app per module on SQLite: a key per role, a contact with a task assigned to the agent and one without.
Denied calls are made first, each checked to change nothing (every table's content, ``api_keys.last_used_at``
aside); then the allowed calls, which may answer anything but 401 or 403.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import select, update
from starlette.exceptions import StarletteDeprecationWarning
from typer.testing import CliRunner

from touchflow.api import create_app
from touchflow.api.permissions import PERMISSION_MARK, PUBLIC, route_permission
from touchflow.bootstrap import Application, bootstrap
from touchflow.cli import app as cli
from touchflow.clock import VirtualClock
from touchflow.config import Settings
from touchflow.domain.actors import Actor
from touchflow.domain.errors import FieldError
from touchflow.domain.governance.permissions import PERMISSIONS, ROLE_NAMES, role, roles
from touchflow.domain.governance.principals import Principal
from touchflow.services.accounts import create_user
from touchflow.services.apikeys import (
    KeySpec,
    check_key_spec,
    create_api_key,
    issue_api_key,
    list_api_keys,
    set_owner_role,
)
from touchflow.services.sessions import SESSION_COOKIE, AuthenticatedSession
from touchflow.store.tables import audit_log, metadata, tasks

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

AGENT = "agent@example.cn"
DOC = Path(__file__).resolve().parents[2] / "docs" / "subsystems" / "permissions.md"

# A plausible value per path parameter: enough to reach the handler (allowed calls may still answer 404/422).
FILL = {"identifier": "email:a@example.cn", "contact": "email:a@example.cn", "contact_id": "c0ffee", "key": "k1",
        "task_id": "t1", "name": "welcome", "review_id": "r1", "popup_id": "p1", "token": "x", "channel": "sms",
        "path": "pending"}
ACTIONS = {"/v1/journeys/{key}/runs/{identifier}/{action}": "pause"}
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True)
class World:
    application: Application
    app: FastAPI
    client: TestClient
    keys: dict[str, str]  # role → secret
    clock: VirtualClock
    assigned_task: str
    other_task: str


def _fill(path: str) -> str:
    if path in ACTIONS:
        path = path.replace("{action}", ACTIONS[path])
    return _PARAM.sub(lambda m: FILL.get(m.group(1), "x"), path)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("perms")
    clock = VirtualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    application = bootstrap(Settings(f"sqlite:///{(folder / 'touchflow.db').as_posix()}", config_dir=str(folder)),
                            clock=clock)
    application.init_database()
    application.create_secret_key()
    keys = {}
    for name in ROLE_NAMES:
        spec = (KeySpec(f"{name}-key", name, owner_user_id=AGENT) if name == "agent"
                else KeySpec(f"{name}-key", name, service_account=f"{name}-service"))
        # no approval in tests: no person asks for these keys
        keys[name] = issue_api_key(application.services, check_key_spec(spec), actor="test").secret
    app = create_app(application)
    with TestClient(app, raise_server_exceptions=False) as client:
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        for email in ("a@example.cn", "b@example.cn"):
            sent = client.post("/v1/events", headers=admin, json={"events": [
                {"type": "complaint", "email": email, "properties": {"reason": "投诉"}}]})
            assert sent.status_code == 200, sent.text
        found = client.get("/v1/tasks", headers=admin).json()["items"]
        by_contact = {t["contact_id"]: t["id"] for t in found}
        mine = client.get("/v1/contacts/email:a@example.cn", headers=admin).json()["id"]
        with application.engine.begin() as c:
            c.execute(update(tasks).where(tasks.c.id == by_contact[mine]).values(assignee=AGENT))
        other = next(t for c_id, t in by_contact.items() if c_id != mine)
        yield World(application, app, client, keys, clock, by_contact[mine], other)
    application.close()


def _snapshot(application: Application) -> str:
    """A digest of every table's content (``api_keys.last_used_at`` aside: a call may record its key's use)."""
    digest = hashlib.sha256()
    with application.engine.connect() as c:
        for table in metadata.sorted_tables:
            columns = [col for col in table.columns if not (table.name == "api_keys" and col.name == "last_used_at")]
            for row in c.execute(select(*columns).order_by(*table.primary_key.columns or columns[:1])):
                digest.update(repr((table.name, tuple(row))).encode())
    return digest.hexdigest()


def _console_paths(app: FastAPI) -> set[str]:
    """Paths of the web console's routes (``touchflow.console``): HTML pages that redirect to the login page."""
    return {str(c.path) for c in iter_route_contexts(app.routes)
            if getattr(c.original_route, "endpoint", None) is not None
            and c.original_route.endpoint.__module__.startswith("touchflow.console")}  # type: ignore[attr-defined]


def _operations(app: FastAPI) -> list[tuple[str, str, str]]:
    """(method, path, permission mark) of every route the app answers."""
    found = []
    for context in iter_route_contexts(app.routes):  # included routers flattened, prefixes applied
        route = context.original_route
        assert isinstance(route, APIRoute), f"{route!r} is not an APIRoute: it cannot declare a permission"
        mark = route_permission(route)
        assert mark is not None, f"{sorted(route.methods)} {context.path} declares no permission"
        found.extend((method, str(context.path), mark) for method in sorted(route.methods - {"HEAD"}))
    return found


def _needs(mark: str) -> frozenset[str] | None:
    return None if mark.startswith(PUBLIC) else frozenset(mark.split("+"))


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return client.request(method, _fill(path), headers=headers, **body).status_code  # type: ignore[arg-type]


def test_every_operation_and_route_declares_a_permission(world: World) -> None:
    document = world.app.openapi()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            mark = operation.get(PERMISSION_MARK)
            assert isinstance(mark, str), f"{method.upper()} {path} has no {PERMISSION_MARK}"
    operations = _operations(world.app)
    console = _console_paths(world.app)
    assert {"/login", "/dashboard", "/contacts", "/tasks", "/journeys"} <= console  # console pages are walked too
    hidden = {(m, p) for m, p, _ in operations} - {(m.upper(), p) for p, item in document["paths"].items()
                                                     for m in item}
    assert ("GET", "/docs") in hidden and ("GET", "/openapi.json") in hidden  # non-schema routes walked too
    for method, path, mark in operations:
        needs = _needs(mark)
        if needs is None:
            assert len(mark) > len(PUBLIC) + 5, f"{method} {path}: say what protects a public route"
        else:
            assert needs <= set(PERMISSIONS), f"{method} {path}: unknown permission in {mark!r}"
            assert path.startswith("/v1/") or path in console, f"{method} {path}: a permission outside /v1"


def test_every_route_and_role(world: World) -> None:
    """Denied → 403 and nothing changed; allowed → neither 401 nor 403."""
    matrix = [(m, p, _needs(mark)) for m, p, mark in _operations(world.app)]
    gated = [(m, p, needs) for m, p, needs in matrix if needs is not None]
    assert len(gated) >= 45
    before = _snapshot(world.application)
    denied = allowed = 0
    for method, path, needs in gated:
        for name in ROLE_NAMES:
            if needs <= role(name).permissions:
                continue
            status = _call(world.client, method, path, {"Authorization": f"Bearer {world.keys[name]}"})
            assert status == 403, f"{name}: {method} {path} answered {status}, not 403"
            assert _snapshot(world.application) == before, f"{name}: denied {method} {path} changed data"
            denied += 1
    for method, path, needs in gated:
        for name in ROLE_NAMES:
            if not needs <= role(name).permissions:
                continue
            status = _call(world.client, method, path, {"Authorization": f"Bearer {world.keys[name]}"})
            assert status not in (401, 403) and status < 500, f"{name}: {method} {path} answered {status}"
            allowed += 1
    assert denied > 100 and allowed > 60


def test_no_credential_is_401_on_every_gated_route(world: World) -> None:
    """The API answers 401; a console page sends the reader to the login page instead (nothing runs)."""
    console = _console_paths(world.app)
    before = _snapshot(world.application)
    for method, path, mark in _operations(world.app):
        if _needs(mark) is None:
            continue
        if path in console:
            body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            answer = world.client.request(method, _fill(path), follow_redirects=False, **body)  # type: ignore[arg-type]
            assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next="), \
                f"{method} {path} without a session answered {answer.status_code}"
            continue
        status = _call(world.client, method, path, {})
        assert status == 401, f"{method} {path} without a key answered {status}"
    assert _snapshot(world.application) == before


def test_session_cookie_needs_its_csrf_token_on_writes(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = Principal(Actor("user:u1", "王经理"), "admin", role("admin").permissions, user_id="u1", session_id="s1")
    sessions = {"good-session": AuthenticatedSession(admin, "csrf-123")}
    monkeypatch.setattr("touchflow.api.auth.authenticate_session", lambda ctx, token: sessions.get(token))
    client = world.client
    client.cookies.set(SESSION_COOKIE, "good-session")
    try:
        assert client.get("/v1/segments").status_code == 200
        body = {"name": "VIP", "condition": "tags contains 'vip'"}
        before = _snapshot(world.application)
        assert client.post("/v1/segments", json=body).status_code == 403
        wrong = client.post("/v1/segments", json=body, headers={"X-CSRF-Token": "csrf-124"})
        assert wrong.status_code == 403 and "CSRF" in wrong.json()["detail"]
        evil = client.post("/v1/segments", json=body, headers={"X-CSRF-Token": "csrf-123",
                                                               "Origin": "https://evil.example"})
        assert evil.status_code == 403 and "Origin" in evil.json()["detail"]
        assert _snapshot(world.application) == before
        form = client.post("/v1/segments", content=b"csrf_token=csrf-123&name=VIP",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert form.status_code == 422  # the form field passed the CSRF check; the body is not a segment
        good = client.post("/v1/segments", json={"key": "csrf_ok", **body},
                           headers={"X-CSRF-Token": "csrf-123", "Origin": "http://testserver"})
        assert good.status_code not in (401, 403), good.text
        client.cookies.set(SESSION_COOKIE, "ended-session")
        assert client.get("/v1/segments").status_code == 401
    finally:
        client.cookies.clear()


def test_agent_reaches_only_what_is_assigned_to_them(world: World) -> None:
    agent = {"Authorization": f"Bearer {world.keys['agent']}"}
    client = world.client
    listed = client.get("/v1/tasks", headers=agent, params={"status": "open"}).json()["items"]
    assert [t["id"] for t in listed] == [world.assigned_task]
    assert client.get("/v1/contacts/email:a@example.cn", headers=agent).status_code == 200
    other = client.get("/v1/contacts/email:b@example.cn", headers=agent)
    missing = client.get("/v1/contacts/email:nobody@example.cn", headers=agent)
    assert other.status_code == missing.status_code == 404  # not 403: whether b exists does not leak
    assert client.get("/v1/contacts/email:b@example.cn/score", headers=agent).status_code == 404
    found = client.get("/v1/contacts", headers=agent).json()["items"]
    assert len(found) == 1 and client.get("/v1/contacts", headers=agent, params={"q": "a@example.cn"}).json()["items"]
    everyone = client.get("/v1/contacts", headers={"Authorization": f"Bearer {world.keys['admin']}"},
                          params={"q": "b@example.cn"}).json()["items"]
    assert len(everyone) == 1 and not client.get("/v1/contacts", headers=agent,
                                                 params={"q": "b@example.cn"}).json()["items"]
    assert client.post(f"/v1/tasks/{world.other_task}/done", headers=agent).status_code == 404
    done = client.post(f"/v1/tasks/{world.assigned_task}/done", headers=agent, json={"note": "called"})
    assert done.status_code == 200 and done.json()["status"] == "done"


def test_scopes_narrow_a_key_and_never_widen_it(world: World) -> None:
    services = world.application.services
    narrow = create_api_key(services, KeySpec("crm-reader", "strategist", frozenset({"contacts.read"}),
                                              service_account="crm"), actor="test").secret  # no export: no approval
    headers = {"Authorization": f"Bearer {narrow}"}
    assert world.client.get("/v1/contacts", headers=headers).status_code == 200
    assert world.client.get("/v1/segments", headers=headers).status_code == 403
    assert world.client.post("/v1/events", headers=headers, json={"events": []}).status_code == 403
    with pytest.raises(FieldError, match=r"outside the role editor: contacts\.read"):
        create_api_key(services, KeySpec("x", "editor", frozenset({"contacts.read"}), service_account="x"),
                       actor="test")
    with pytest.raises(FieldError, match="owner"):
        create_api_key(services, KeySpec("x", "viewer"), actor="test")


def test_changing_an_owners_role_changes_their_personal_keys(world: World) -> None:
    services = world.application.services
    secret = issue_api_key(services, check_key_spec(KeySpec("zhang-laptop", "strategist",
                                                            owner_user_id="zhang@example.cn")), actor="test").secret
    headers = {"Authorization": f"Bearer {secret}"}
    app = create_app(world.application, api_key_ttl=0)
    with TestClient(app) as client:
        assert client.get("/v1/segments", headers=headers).status_code == 200
        assert set_owner_role(services, "zhang@example.cn", "viewer") == 1
        assert client.get("/v1/segments", headers=headers).status_code == 403
        assert client.get("/v1/tasks/timeliness", headers=headers).status_code == 200


def test_last_use_is_recorded_at_most_once_a_minute(world: World) -> None:
    services = world.application.services
    secret = create_api_key(services, KeySpec("usage", "viewer", service_account="bi"), actor="test").secret
    key_id = secret.split("_")[1]
    app = create_app(world.application, api_key_ttl=0)  # every request asks the database
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {secret}"}

        def last_use() -> datetime | None:
            return next(k.last_used_at for k in list_api_keys(services) if k.id == key_id)

        assert last_use() is None
        client.get("/v1/tasks/timeliness", headers=headers)
        first = last_use()
        assert first == world.clock.now()
        world.clock.advance(timedelta(seconds=30))
        client.get("/v1/tasks/timeliness", headers=headers)
        assert last_use() == first
        world.clock.advance(timedelta(seconds=31))
        client.get("/v1/tasks/timeliness", headers=headers)
        assert last_use() == world.clock.now()


def test_apikey_cli_role_scope_owner_and_list(world: World) -> None:
    env = {"TOUCHFLOW_DATABASE_URL": world.application.settings.database_url}
    runner = CliRunner()
    made = runner.invoke(cli, ["apikey", "create", "warehouse", "--role", "viewer", "--json"], env=env)
    assert made.exit_code == 0, made.output
    issued = orjson.loads(made.output)
    assert (issued["role"], issued["scopes"], issued["service"]) == ("viewer", None, "warehouse")
    refused = runner.invoke(cli, ["apikey", "create", "wide", "--role", "editor", "--scope", "contacts.read"],
                            env=env)
    assert refused.exit_code == 2 and "outside the role editor" in refused.output
    assert runner.invoke(cli, ["apikey", "create", "nothing"], env=env).exit_code == 2  # a role must be given
    assert runner.invoke(cli, ["apikey", "create", "li-laptop", "--owner", "li@example.cn"], env=env).exit_code == 2
    li = create_user(world.application.services, "Li@Example.cn", "李", "agent", "Correct-Horse-42-battery",
                     actor=Actor.os_user("root"))
    mine = runner.invoke(cli, ["apikey", "create", "li-laptop", "--owner", "Li@Example.cn", "--json"], env=env)
    assert mine.exit_code == 0 and orjson.loads(mine.output)["owner"] == li.id
    assert orjson.loads(mine.output)["role"] == "agent"  # the owner's role
    wide = runner.invoke(cli, ["apikey", "create", "etl", "--role", "strategist"], env=env)
    assert wide.exit_code == 2 and "approval request-key" in wide.output  # can export: a four-eyes request
    listed = orjson.loads(runner.invoke(cli, ["apikey", "list", "--json"], env=env).output)
    row = next(r for r in listed if r["id"] == issued["id"])
    assert set(row) >= {"role", "scopes", "owner", "service", "last_used_at"} and row["last_used_at"] is None
    with world.application.engine.connect() as c:
        actors = [r.actor for r in c.execute(select(audit_log.c.actor).where(audit_log.c.subject == issued["id"]))]
    assert actors and all(a.startswith("os:") for a in actors)  # the OS account, not a typed name


# --- docs/subsystems/permissions.md: the matrix and the route list, generated ----------------------------------

_BEGIN, _END = "<!-- generated: begin (tests/e2e/test_route_permissions.py) -->", "<!-- generated: end -->"


def render_tables(app: FastAPI) -> str:
    table = roles()
    lines = ["### Roles × permissions", "", "| permission | " + " | ".join(ROLE_NAMES) + " |",
             "|---|" + "---|" * len(ROLE_NAMES)]
    for permission, meaning in PERMISSIONS.items():
        cells = " | ".join("✔" if permission in table[name].permissions else "" for name in ROLE_NAMES)
        lines.append(f"| `{permission}` ({meaning}) | {cells} |")
    lines += ["", "### Routes", "", "| method | path | permission |", "|---|---|---|"]
    for method, path, mark in sorted(_operations(app), key=lambda o: (o[1], o[0])):
        shown = mark if mark.startswith(PUBLIC) else " + ".join(f"`{p}`" for p in mark.split("+"))
        lines.append(f"| {method} | `{path}` | {shown} |")
    return "\n".join(lines)


def test_permissions_doc_is_current(world: World) -> None:
    """Regenerate with TOUCHFLOW_WRITE_DOCS=1."""
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(_BEGIN, 1)
    _, tail = rest.split(_END, 1)
    fresh = f"{head}{_BEGIN}\n{render_tables(world.app)}\n{_END}{tail}"
    if os.environ.get("TOUCHFLOW_WRITE_DOCS") == "1":
        DOC.write_text(fresh, encoding="utf-8")
    assert fresh == text, "docs/subsystems/permissions.md is stale: run with TOUCHFLOW_WRITE_DOCS=1"

