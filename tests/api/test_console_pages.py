"""The console's routes in process: logins and their cookie, the static allowlist, offline /docs, and
a schedule page's timeline (the browser tests in tests/browser drive the same pages for real)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pager.api.app import create_app
from pager.api.deps import get_now
from pager.db.session import session_scope
from pager.services.people.tokens import create_api_token, revoke_api_token
from pager.services.runtime import Runtime
from tests import support
from tests.support import Clock

pytestmark = pytest.mark.database

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SCHEDULE = """
name: Team
time_zone: UTC
layers:
  - name: days
    members: [ann]
    start: 2026-03-02T00:00
    shift: 1d
    restrictions:
      - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}
"""
POLICY = """
name: Main
levels:
  - notify: [schedule:team]
    escalate_after: 10m
services:
  - {id: web, name: Web}
"""


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    config_dir = support.write_config(tmp_path / "config", {"team": SCHEDULE}, {"main": POLICY})
    return support.console_runtime(engine, config_dir)


@pytest.fixture
def client(runtime: Runtime, clock: Clock) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = clock
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def token(runtime: Runtime, role: str) -> str:
    with session_scope(runtime.engine) as session:
        _, plaintext = create_api_token(session, role=role, name=role, now=NOW)
    return plaintext


def log_in(client: TestClient, plaintext: str) -> None:
    form = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    answer = client.post("/login/token", data={"csrf": csrf.group(1), "token": plaintext, "next": "/"})
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text


def test_pages_need_a_login_and_a_token_opens_a_session(client: TestClient, runtime: Runtime) -> None:
    assert (
        client.get("/alerts?status=triggered").headers["location"]
        == "/login?next=/alerts%3Fstatus%3Dtriggered"
    )
    log_in(client, token(runtime, "viewer"))
    board = client.get("/")
    assert board.status_code == 200 and "Logged in as viewer (viewer)" in board.text
    cookie = client.cookies.get("pager_session")
    assert cookie is not None


def test_a_wrong_token_is_refused_and_the_form_is_shown_again(client: TestClient) -> None:
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert csrf is not None
    answer = client.post("/login/token", data={"csrf": csrf.group(1), "token": "pgr_wrong"})
    assert answer.status_code == 401 and "unknown or revoked" in answer.text


def test_a_login_never_redirects_off_the_site(client: TestClient, runtime: Runtime) -> None:
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert csrf is not None
    data = {"csrf": csrf.group(1), "token": token(runtime, "admin"), "next": "//evil.example.com/"}
    assert client.post("/login/token", data=data).headers["location"] == "/"


def test_the_schedule_page_draws_the_coming_weeks_with_gaps(client: TestClient, runtime: Runtime) -> None:
    log_in(client, token(runtime, "viewer"))
    page = client.get("/schedules/team?days=14")
    assert page.status_code == 200
    # Ann works 09:00-17:00 on weekdays: from Monday noon, two weeks have 10 nights and weekends
    # without a primary (Friday evening to Monday morning is one), and a one-member layer gives no
    # secondary at all: 11 gaps, drawn red. A viewer gets no override form.
    assert page.text.count('fill="#b91c1c"') == 11
    assert "Add override" not in page.text
    assert client.get("/schedules/team?days=60").status_code == 422
    assert client.get("/schedules/nope").status_code == 404


def test_static_files_come_from_the_allowlist_only(client: TestClient) -> None:
    htmx = client.get("/static/htmx.min.js")
    assert htmx.status_code == 200 and htmx.text.startswith("/*! htmx.org 2.0.11")
    assert client.get("/static/swagger/LICENSE").status_code == 404
    assert client.get("/static/../web.py").status_code == 404


def test_the_api_docs_use_pagers_own_copy_of_swagger_ui(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "/static/swagger/swagger-ui-bundle.js" in docs.text and "cdn" not in docs.text.lower()
    assert client.get("/redoc").status_code == 404
    assert "/login" not in client.get("/openapi.json").json()["paths"]


def test_the_session_ends_when_its_token_is_revoked(client: TestClient, runtime: Runtime) -> None:
    with session_scope(runtime.engine) as session:
        row, plaintext = create_api_token(session, role="admin", name="ops", now=NOW)
    log_in(client, plaintext)
    assert client.get("/").status_code == 200
    with session_scope(runtime.engine) as session:
        assert row.id is not None
        revoke_api_token(session, row.id, NOW)
    assert client.get("/").status_code == 303


def test_the_session_expires_after_12_hours(client: TestClient, runtime: Runtime, clock: Clock) -> None:
    log_in(client, token(runtime, "viewer"))
    clock.advance(hours=11, minutes=59)
    assert client.get("/").status_code == 200
    clock.advance(minutes=2)
    assert client.get("/").headers["location"] == "/login?next=/"
