"""Bearer authentication: read-only, before the body is read, never behind the writer, and no
request-scoped sessions that FastAPI could enter and leave on different threads."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text
from sqlmodel import select
from starlette.routing import BaseRoute

from pager.api.app import create_app
from pager.api.failure_limits import MAX_FAILURES
from pager.db.session import session_scope
from pager.db.tables import ApiToken
from pager.services.people.tokens import Bearer, TokenUse, create_api_token
from pager.services.runtime import Runtime
from tests import support

pytestmark = pytest.mark.database

NOW = datetime(2026, 3, 4, 15, 20, tzinfo=UTC)
POLICY = """\
    name: Main
    levels:
      - notify: [user:alice]
        escalate_after: 5m
    services:
      - {id: api, name: API}
    """


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    return support.console_runtime(engine, support.write_config(tmp_path / "config", {}, {"main": POLICY}))


@pytest.fixture
def tokens(runtime: Runtime) -> dict[str, str]:
    """A plaintext bearer token per role (named after the role)."""
    with session_scope(runtime.engine) as session:
        return {
            role: create_api_token(session, role=role, name=role, now=NOW)[1]
            for role in ("viewer", "responder", "admin")
        }


def auth(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    with TestClient(app) as test_client:
        yield test_client


def test_no_route_holds_a_session_in_a_yield_dependency(runtime: Runtime) -> None:
    """FastAPI enters and leaves yield dependencies on different threads: none may exist."""
    app = create_app(runtime, run_worker=False)

    def generators(dependant: Dependant) -> Iterator[str]:
        for sub in dependant.dependencies:
            call = sub.call
            if inspect.isgeneratorfunction(call) or inspect.isasyncgenfunction(call):
                yield getattr(call, "__qualname__", repr(call))
            yield from generators(sub)

    def api_routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            included = getattr(route, "original_router", None)  # FastAPI >= 0.160 nests included routers
            if included is not None:
                yield from api_routes(included.routes)

    found = {route.path: sorted(generators(route.dependant)) for route in api_routes(app.routes)}
    assert len(found) > 20, found
    assert {path: deps for path, deps in found.items() if deps} == {}


def test_refused_before_the_body_is_parsed(client: TestClient) -> None:
    # Without a token, a body that is not even JSON is never looked at: 401, not 422.
    response = client.post(
        "/api/v1/overrides", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    wrong = client.post(
        "/api/v1/overrides",
        content=b"{not json",
        headers={"Content-Type": "application/json", "Authorization": "Bearer pgr_wrong"},
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"]["message"] == "invalid or revoked token"
    basic = client.get("/api/v1/alerts", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401


def test_authentication_never_waits_for_the_writer(
    client: TestClient,
    runtime: Runtime,
    tokens: dict[str, str],
) -> None:
    """While another transaction holds the writer, reads with a token and refusals still answer.

    SQLite: a writing session (this process's writer lock and SQLite's RESERVED lock, from BEGIN
    IMMEDIATE). Postgres: a transaction holding the token table in EXCLUSIVE mode, which blocks
    every write to it (the old last_used_at UPDATE on the request's path) but no plain read.
    """
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with session_scope(runtime.engine) as session:
            if runtime.engine.url.get_backend_name() == "postgresql":
                session.execute(text("LOCK TABLE api_tokens IN EXCLUSIVE MODE"))
            else:
                session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE has run: the writer is ours
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert taken.wait(5)
        with ThreadPoolExecutor(max_workers=2) as pool:
            read = pool.submit(client.get, "/api/v1/alerts", headers=auth(tokens, "viewer"))
            refused = pool.submit(client.get, "/api/v1/alerts")
            try:
                assert read.result(timeout=5).status_code == 200
                assert refused.result(timeout=5).status_code == 401
            except FutureTimeout:
                raise AssertionError("a request waited for the writer") from None
    finally:
        release.set()
        holder.join()


def test_last_used_at_is_written_at_most_once_a_minute(
    client: TestClient,
    runtime: Runtime,
    tokens: dict[str, str],
) -> None:
    updates: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS"):
            updates.append(statement)

    clock = [NOW]
    client.app.state.token_usage.clock = lambda: clock[0]  # type: ignore[attr-defined]
    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        for _ in range(20):
            assert client.get("/api/v1/alerts", headers=auth(tokens, "viewer")).status_code == 200
        client.app.state.token_usage.wait_idle()  # type: ignore[attr-defined]
        assert len(updates) == 1
        clock[0] = NOW + timedelta(seconds=59)
        assert client.get("/api/v1/alerts", headers=auth(tokens, "viewer")).status_code == 200
        client.app.state.token_usage.wait_idle()  # type: ignore[attr-defined]
        assert len(updates) == 1
        clock[0] = NOW + timedelta(seconds=61)
        assert client.get("/api/v1/alerts", headers=auth(tokens, "viewer")).status_code == 200
        client.app.state.token_usage.wait_idle()  # type: ignore[attr-defined]
        assert len(updates) == 2
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
    with session_scope(runtime.engine, read_only=True) as session:
        rows = {row.name: row.last_used_at for row in session.exec(select(ApiToken))}
    assert rows["viewer"] == NOW + timedelta(seconds=61)
    assert rows["admin"] is None


def test_token_use_decides_per_token() -> None:
    use = TokenUse()
    now = datetime(2026, 3, 4, 15, 20, tzinfo=UTC)
    fresh = Bearer(id=1, role="viewer", name="a", last_used_at=None)
    recent = Bearer(id=2, role="viewer", name="b", last_used_at=now - timedelta(seconds=30))
    assert use.due(fresh, now)
    assert not use.due(fresh, now + timedelta(seconds=59))
    assert use.due(fresh, now + timedelta(seconds=60))
    assert not use.due(recent, now)  # stored 30 s ago: nothing to write yet
    assert use.due(recent, now + timedelta(seconds=30))


def test_revoked_token_is_refused(client: TestClient, runtime: Runtime) -> None:
    with session_scope(runtime.engine) as session:
        row, plaintext = create_api_token(session, role="admin", name="gone", now=NOW)
        row.revoked_at = NOW
        session.add(row)
    response = client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status_code == 401


def test_failed_authentications_are_limited_per_address(
    client: TestClient,
    tokens: dict[str, str],
    runtime: Runtime,
) -> None:
    assert client.get("/api/v1/alerts", headers=auth(tokens, "viewer")).status_code == 200  # known here
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    wrong = {"Authorization": "Bearer pgr_wrong"}
    for _ in range(MAX_FAILURES):
        assert client.get("/api/v1/alerts", headers=wrong).status_code == 401
    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        blocked = client.get("/api/v1/alerts", headers=wrong)
        missing = client.get("/api/v1/alerts")
        assert not statements, "a blocked client's request reached the database"
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)
    for refused in (blocked, missing):
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "throttled"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Never seen working from here: refused too, valid or not. Seen working: still served.
    assert client.get("/api/v1/alerts", headers=auth(tokens, "admin")).status_code == 429
    assert client.get("/api/v1/alerts", headers=auth(tokens, "viewer")).status_code == 200
