"""/api/v1/reports and /api/v1/export/{what} (docs/analytics.md): the seeded weekend's report, a
streamed export, and bad input as a 4xx JSON error naming the problem."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pager.api.app import create_app
from pager.api.deps import get_now
from pager.db.session import session_scope
from pager.services.analytics.export import export_text
from pager.services.people.tokens import create_api_token
from pager.services.runtime import Runtime
from tests.analytics_seed import FROM, SEEDED_AT, TO, seeded_runtime
from tests.services.test_response_report import EXPECTED

pytestmark = pytest.mark.database

WINDOW = "from=2026-03-28T00:00:00Z&to=2026-03-31T00:00:00Z"


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    return seeded_runtime(engine, tmp_path / "config")


@pytest.fixture
def viewer(runtime: Runtime) -> dict[str, str]:
    with session_scope(runtime.engine) as session:
        token = create_api_token(session, role="viewer", name="dashboard", now=SEEDED_AT)[1]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = lambda: SEEDED_AT
    with TestClient(app) as test_client:
        yield test_client


def test_a_viewer_reads_the_report(client: TestClient, viewer: dict[str, str]) -> None:
    answer = client.get(f"/api/v1/reports?{WINDOW}", headers=viewer)
    assert answer.status_code == 200, answer.text
    assert answer.json() == EXPECTED
    assert client.get(f"/api/v1/reports?{WINDOW}").status_code == 401


def test_the_export_streams_what_the_service_writes(
    client: TestClient, viewer: dict[str, str], runtime: Runtime
) -> None:
    answer = client.get(f"/api/v1/export/timeline?{WINDOW}&format=csv", headers=viewer)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.text == "".join(export_text(runtime.engine, "timeline", "csv", FROM, TO))
    assert len(list(csv.DictReader(io.StringIO(answer.text, newline="")))) > 10
    answer = client.get(f"/api/v1/export/incidents?{WINDOW}&format=json&drill=true", headers=viewer)
    assert [d["number"] for d in answer.json()] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("/api/v1/reports?to=2026-03-31T00:00:00Z", 422, "invalid query.from"),
        ("/api/v1/reports?from=2026-03-28T00:00:00Z", 422, "invalid query.to"),
        (
            "/api/v1/reports?from=2026-03-28&to=2026-03-31T00:00:00Z",
            422,
            "from: '2026-03-28' has no UTC offset",
        ),
        ("/api/v1/reports?from=2026-03-28T00:00:00Z&to=later", 422, "to: 'later' is not an ISO 8601 instant"),
        (
            "/api/v1/reports?from=2026-03-31T00:00:00Z&to=2026-03-28T00:00:00Z",
            422,
            "`to` must be after `from`",
        ),
        (
            "/api/v1/reports?from=2026-03-28T00:00:00Z&to=2026-03-28T00:00:00Z",
            422,
            "`to` must be after `from`",
        ),
        ("/api/v1/reports?from=2024-01-01T00:00:00Z&to=2026-03-28T00:00:00Z", 422, "at most 400 days"),
        (f"/api/v1/reports?{WINDOW}&service=nope", 404, "no service 'nope'"),
        (f"/api/v1/export/users?{WINDOW}", 422, "what: 'users' is not one of"),
        (f"/api/v1/export/alerts?{WINDOW}&format=xml", 422, "format: 'xml' is not one of csv, json"),
        (
            "/api/v1/export/alerts?from=2026-03-31T00:00:00Z&to=2026-03-28T00:00:00Z",
            422,
            "`to` must be after",
        ),
        ("/api/v1/export/alerts?from=2026-03-28T00:00:00Z", 422, "invalid query.to"),
    ],
)
def test_bad_input_is_a_json_error_naming_it(
    client: TestClient, viewer: dict[str, str], url: str, status: int, message: str
) -> None:
    answer = client.get(url, headers=viewer)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert message in error["message"] + str(error.get("details")), error
