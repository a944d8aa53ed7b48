"""REST API /api/v1 against a migrated database: every route × role, happy paths, errors, paging.

Each happy path checks the database, not only the answer. The role matrix is checked to cover every
/api/v1 route the app has, so a new route cannot slip in without a role.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select
from typer.testing import CliRunner

from pager.api.app import create_app
from pager.api.deps import get_now
from pager.core.schedule import final_shifts, resolve_on_call
from pager.db.session import session_scope
from pager.db.tables import Alert, ApiToken, CalendarToken, ContactMethod, OverrideRow, Service, User
from pager.db.users import find_user_by_handle
from pager.services.alerting import alerts, catalog
from pager.services.alerting.maintenance import start_window
from pager.services.calendars import overrides
from pager.services.incidents.action_items import add_action_item
from pager.services.incidents.changes import change_status
from pager.services.incidents.declaring import declare
from pager.services.incidents.postmortems import open_postmortem
from pager.services.ingest.keys import service_for_key
from pager.services.integrations.webhooks import add_webhook
from pager.services.people import users, verification
from pager.services.people.tokens import create_api_token, token_hash
from pager.services.runtime import Runtime
from tests import support

pytestmark = pytest.mark.database

NOW = datetime(2026, 3, 4, 15, 20, tzinfo=UTC)  # a Wednesday; alice's week in "team"
ROLES = ("viewer", "responder", "admin")

SCHEDULES = {
    "team": """\
        name: Team
        time_zone: America/Chicago
        layers:
          - name: weekly
            members: [alice, bob]
            start: 2026-01-05T09:00
            shift: 1w
        """,
    "nights": """\
        name: Nights
        time_zone: America/Chicago
        layers:
          - name: desk
            members: [carol]
            start: 2026-01-05T22:00
            shift: 1d
            restrictions:
              - {days: [mon, tue, wed, thu, fri, sat, sun], from: "22:00", to: "06:00"}
        """,
}
POLICY = """\
    name: Main
    repeat: 1
    ack_timeout: 30m
    auto_resolve: 4h
    levels:
      - notify: [schedule:team]
        escalate_after: 5m
      - notify: [schedule:team/secondary, user:carol]
        escalate_after: 10m
    services:
      - {id: api, name: API, runbook: https://wiki.example.com/api}
      - {id: web, name: Web}
    """


def write_config(root: Path) -> Path:
    return support.write_config(root, SCHEDULES, {"main": POLICY})


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    built = support.console_runtime(
        engine, write_config(tmp_path / "config"), public_url="https://pager.example.com"
    )
    with session_scope(engine) as session:
        for number, handle in enumerate(("alice", "bob", "carol"), start=1):
            users.add_user(
                session,
                handle=handle,
                name=handle.title(),
                now=NOW,
                sms=f"+1555000000{number}",
                email=f"{handle}@example.com",
            )
        catalog.sync_services(session, built.config, NOW)
    return built


@pytest.fixture
def tokens(runtime: Runtime) -> dict[str, str]:
    """A plaintext bearer token per role (named after the role)."""
    made = {}
    with session_scope(runtime.engine) as session:
        for role in ROLES:  # the responder acts for alice: it may change her settings, nobody else's
            user = "alice" if role == "responder" else None
            made[role] = create_api_token(session, role=role, name=role, now=NOW, user=user)[1]
    return made


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = lambda: NOW
    app.state.token_usage.clock = lambda: NOW
    with TestClient(app) as test_client:
        yield test_client


def auth(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body


def trigger(runtime: Runtime, service: str, key: str, at: datetime = NOW) -> int:
    return alerts.trigger_alert(
        runtime, service_id=service, summary=f"{key} broke", now=at, dedup_key=key
    ).alert_id


# --- the role matrix -------------------------------------------------------------------------------

# (method, path, minimum role, JSON body). Paths name things that exist, so the happy role passes.
OVERRIDE_BODY = {
    "schedule": "team",
    "role": "primary",
    "user": "carol",
    "start": "2026-03-05T00:00:00+00:00",
    "end": "2026-03-06T00:00:00+00:00",
}
MATRIX: list[tuple[str, str, str, Any]] = [
    ("GET", "/api/v1/users", "viewer", None),
    ("GET", "/api/v1/users/alice", "viewer", None),
    ("POST", "/api/v1/users", "admin", {"handle": "dana", "name": "Dana"}),
    ("PATCH", "/api/v1/users/alice", "responder", {"name": "Alice A."}),
    ("POST", "/api/v1/users/alice/deactivate", "admin", None),
    ("POST", "/api/v1/users/alice/reactivate", "admin", None),
    ("GET", "/api/v1/users/alice/contact-methods", "viewer", None),
    (
        "POST",
        "/api/v1/users/alice/contact-methods",
        "responder",
        {"kind": "voice", "address": "+15550000088"},
    ),
    ("POST", "/api/v1/users/alice/contact-methods/{unverified}/send-code", "responder", None),
    ("POST", "/api/v1/users/alice/contact-methods/{unverified}/verify", "responder", {"code": "{code}"}),
    ("DELETE", "/api/v1/users/alice/contact-methods/{alice_email}", "responder", None),
    ("GET", "/api/v1/users/alice/rules", "viewer", None),
    ("PUT", "/api/v1/users/alice/rules", "responder", [{"method": "sms", "after": "0m"}]),
    ("POST", "/api/v1/users/alice/test-page", "responder", {}),
    ("GET", "/api/v1/schedules", "viewer", None),
    ("GET", "/api/v1/schedules/team", "viewer", None),
    ("GET", "/api/v1/schedules/team/on-call", "viewer", None),
    (
        "GET",
        "/api/v1/schedules/team/shifts?from=2026-03-01T00:00:00Z&to=2026-03-15T00:00:00Z",
        "viewer",
        None,
    ),
    ("GET", "/api/v1/overrides", "viewer", None),
    ("POST", "/api/v1/overrides", "responder", OVERRIDE_BODY),
    ("DELETE", "/api/v1/overrides/{override}", "responder", None),
    (
        "POST",
        "/api/v1/overrides/swap",
        "responder",
        {
            "schedule": "team",
            "user": "alice",
            "at": "2026-03-05T12:00:00+00:00",
            "with_user": "bob",
            "with_at": "2026-03-11T12:00:00+00:00",
        },
    ),
    ("GET", "/api/v1/policies", "viewer", None),
    ("GET", "/api/v1/policies/main", "viewer", None),
    ("GET", "/api/v1/services", "viewer", None),
    ("GET", "/api/v1/services/api", "viewer", None),
    ("POST", "/api/v1/services/api/rotate-key", "admin", None),
    ("GET", "/api/v1/heartbeat-monitors", "admin", None),
    ("GET", "/api/v1/alerts", "viewer", None),
    ("GET", "/api/v1/alerts/{alert}", "viewer", None),
    ("POST", "/api/v1/alerts/{alert}/ack", "responder", None),
    ("POST", "/api/v1/alerts/{alert}/resolve", "responder", None),
    ("POST", "/api/v1/alerts/{alert}/escalate", "responder", None),
    ("POST", "/api/v1/alerts/{alert}/snooze", "responder", {"minutes": 30}),
    ("GET", "/api/v1/maintenance", "viewer", None),
    ("POST", "/api/v1/maintenance", "responder", {"service": "api", "for": "2h", "reason": "upgrade"}),
    ("POST", "/api/v1/maintenance/{window}/end", "responder", None),
    ("GET", "/api/v1/incidents/{pm_incident}/postmortem", "viewer", None),
    ("PUT", "/api/v1/incidents/{pm_incident}/postmortem", "responder", {"body": "# Ours now\n"}),
    ("POST", "/api/v1/incidents/{pm_incident}/postmortem/status", "responder", {"status": "in_review"}),
    ("GET", "/api/v1/action-items", "viewer", None),
    (
        "POST",
        "/api/v1/action-items",
        "responder",
        {"incident": "{pm_incident}", "title": "Add a canary", "owner": "bob", "due": "2026-03-09"},
    ),
    ("POST", "/api/v1/action-items/{action_item}/done", "responder", None),
    ("GET", "/api/v1/incidents/{incident}/updates", "viewer", None),
    ("POST", "/api/v1/incidents/{incident}/updates", "responder", {"text": "Rolled back", "public": True}),
    ("GET", "/api/v1/incidents", "viewer", None),
    (
        "POST",
        "/api/v1/incidents",
        "responder",
        {"title": "API errors", "severity": "SEV2", "services": ["api"]},
    ),
    ("GET", "/api/v1/incidents/{incident}", "viewer", None),
    ("POST", "/api/v1/incidents/{incident}/status", "responder", {"status": "identified"}),
    ("POST", "/api/v1/incidents/{incident}/severity", "responder", {"severity": "SEV0"}),
    ("POST", "/api/v1/incidents/{incident}/impact", "responder", {"customer_impact": True}),
    ("POST", "/api/v1/incidents/{incident}/roles", "responder", {"role": "sme", "user": "carol"}),
    ("POST", "/api/v1/incidents/{incident}/notes", "responder", {"text": "looking"}),
    (
        "POST",
        "/api/v1/incidents/{incident}/milestones",
        "responder",
        {"name": "impact_started", "at": "2026-03-04T15:00:00+00:00"},
    ),
    ("GET", "/api/v1/tokens", "admin", None),
    ("POST", "/api/v1/tokens", "admin", {"role": "viewer", "name": "dashboard"}),
    ("DELETE", "/api/v1/tokens/{spare_token}", "admin", None),
    ("GET", "/api/v1/webhooks", "admin", None),
    ("POST", "/api/v1/webhooks", "admin", {"url": "https://h.example/x", "events": ["alert.triggered"]}),
    ("POST", "/api/v1/webhooks/{webhook}/resume", "admin", None),
    ("DELETE", "/api/v1/webhooks/{spare_webhook}", "admin", None),
    ("GET", "/api/v1/users/alice/calendar-tokens", "admin", None),
    ("POST", "/api/v1/users/alice/calendar-tokens", "admin", None),
    ("DELETE", "/api/v1/users/alice/calendar-tokens/{user_feed_token}", "admin", None),
    ("GET", "/api/v1/schedules/team/calendar-tokens", "admin", None),
    ("POST", "/api/v1/schedules/team/calendar-tokens", "admin", None),
    ("DELETE", "/api/v1/schedules/team/calendar-tokens/{schedule_feed_token}", "admin", None),
    ("GET", "/api/v1/reports?from=2026-03-01T00:00:00Z&to=2026-03-15T00:00:00Z", "viewer", None),
    ("GET", "/api/v1/export/alerts?from=2026-03-01T00:00:00Z&to=2026-03-15T00:00:00Z", "viewer", None),
]


@pytest.fixture
def things(runtime: Runtime) -> dict[str, Any]:
    """Rows the matrix's paths refer to."""
    alert_id = trigger(runtime, "api", "matrix")
    with session_scope(runtime.engine) as session:
        override = overrides.add_override(
            session,
            runtime.config,
            schedule_id="team",
            role="primary",
            user="carol",
            start=NOW,
            end=NOW + timedelta(hours=1),
            now=NOW,
        )
        spare, _ = create_api_token(session, role="viewer", name="spare", now=NOW)
        webhook = add_webhook(session, "https://h.example/a", ["alert.triggered"], "standard", NOW)
        spare_webhook = add_webhook(session, "https://h.example/b", ["alert.triggered"], "standard", NOW)
        window = start_window(session, "web", timedelta(hours=1), reason="", by=None, now=NOW)
        incident = declare(
            session, runtime.config.incidents, title="Web down", severity="SEV1", actor="bob", now=NOW
        )
        alice = find_user_by_handle(session, "alice")
        assert alice is not None
        user_feed = CalendarToken(user_id=alice.id, token_hash="u" * 64, created_at=NOW)
        schedule_feed = CalendarToken(schedule_id="team", token_hash="s" * 64, created_at=NOW)
        session.add_all([user_feed, schedule_feed])
        session.flush()
        keys = verification.Secrets(support.TEST_SECRET_KEY, "https://pager.example.com")
        unverified, notice = verification.add_method(session, keys, "alice", "sms", "+15550000077", NOW)
        alice_email = next(m for m in users.contact_methods(session, alice) if m.kind == "email")
        resolved = declare(
            session, runtime.config.incidents, title="Down", severity="SEV2", actor="alice", now=NOW
        )
        assert resolved.id is not None
        change_status(session, runtime.config.incidents, resolved.id, "resolved", actor="alice", now=NOW)
        open_postmortem(session, resolved, runtime.config.incidents, NOW)
        item = add_action_item(
            session, resolved.id, title="Runbook", owner="bob", due="2026-03-05", by="alice", now=NOW
        )
        return {
            "pm_incident": resolved.id,
            "action_item": item.id,
            "unverified": unverified.id or 0,
            "code": re.findall(r"\d{6}", notice.body)[0],
            "alice_email": alice_email.id or 0,
            "alert": alert_id,
            "override": override.id or 0,
            "window": window.id or 0,
            "incident": incident.id or 0,
            "spare_token": spare.id or 0,
            "webhook": webhook.id or 0,
            "spare_webhook": spare_webhook.id or 0,
            "user_feed_token": user_feed.id or 0,
            "schedule_feed_token": schedule_feed.id or 0,
        }


def test_the_matrix_covers_every_api_route(client: TestClient) -> None:
    # From the OpenAPI document: FastAPI's route objects nest differently from one release to the next.
    paths = client.get("/openapi.json").json()["paths"]
    routes = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/api/v1")
        for method in operations
    }
    assert len(routes) > 20, routes
    covered = set()
    for method, path, _, _ in MATRIX:
        for route_method, route_path in routes:
            pattern = route_path.split("/")
            parts = path.split("?")[0].split("/")
            same_shape = route_method == method and len(pattern) == len(parts)
            if same_shape and all(p == q or p.startswith("{") for p, q in zip(pattern, parts, strict=True)):
                covered.add((route_method, route_path))
    assert covered == routes


@pytest.mark.parametrize(
    ("method", "path", "minimum", "body"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX]
)
def test_every_route_enforces_its_role(
    client: TestClient,
    tokens: dict[str, str],
    things: dict[str, Any],
    method: str,
    path: str,
    minimum: str,
    body: Any,
) -> None:
    url = path.format(**things)
    if isinstance(body, dict):
        body = {
            key: value.format(**things) if isinstance(value, str) else value for key, value in body.items()
        }
    missing = client.request(method, url, json=body)
    assert_error(missing, 401, "unauthorized")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert_error(
        client.request(method, url, json=body, headers={"Authorization": "Bearer pgr_nope"}),
        401,
        "unauthorized",
    )
    for role in ROLES[: ROLES.index(minimum)]:
        assert_error(client.request(method, url, json=body, headers=auth(tokens, role)), 403, "forbidden")
    answer = client.request(method, url, json=body, headers=auth(tokens, minimum))
    assert answer.status_code in (200, 201, 204), answer.text


def test_a_revoked_token_is_refused(client: TestClient, tokens: dict[str, str], runtime: Runtime) -> None:
    assert client.get("/api/v1/users", headers=auth(tokens, "viewer")).status_code == 200
    with session_scope(runtime.engine) as session:
        row = session.exec(select(ApiToken).where(ApiToken.name == "viewer")).one()
        row.revoked_at = NOW
    assert_error(client.get("/api/v1/users", headers=auth(tokens, "viewer")), 401, "unauthorized")


# --- users -----------------------------------------------------------------------------------------


def test_users_come_with_contact_methods_and_effective_rules(
    client: TestClient, tokens: dict[str, str]
) -> None:
    page = client.get("/api/v1/users", headers=auth(tokens, "viewer")).json()
    assert [u["handle"] for u in page["items"]] == ["alice", "bob", "carol"]
    alice = client.get("/api/v1/users/alice", headers=auth(tokens, "viewer")).json()
    assert alice["name"] == "Alice"
    assert alice["created_at"] == "2026-03-04T15:20:00+00:00"
    assert [(m["kind"], m["address"]) for m in alice["contact_methods"]] == [
        ("sms", "+15550000001"),
        ("email", "alice@example.com"),
    ]
    # Default rules over the methods she has: the first (sms) at once, the next (email) a minute later.
    assert [(r["method"], r["delay_seconds"]) for r in alice["notification_rules"]] == [
        ("sms", 0),
        ("email", 60),
    ]
    assert alice["default_rules"] is True
    assert_error(client.get("/api/v1/users/zed", headers=auth(tokens, "viewer")), 404, "not_found")


def test_admin_adds_a_user(client: TestClient, tokens: dict[str, str], runtime: Runtime) -> None:
    body = {"handle": "dana", "name": "Dana D", "sms": "+15550000009"}
    created = client.post("/api/v1/users", json=body, headers=auth(tokens, "admin"))
    assert created.status_code == 201
    assert created.json()["contact_methods"][0]["address"] == "+15550000009"
    with session_scope(runtime.engine, read_only=True) as session:
        dana = session.exec(select(User).where(User.handle == "dana")).one()
        methods = session.exec(select(ContactMethod).where(ContactMethod.user_id == dana.id)).all()
        assert (dana.name, [m.address for m in methods]) == ("Dana D", ["+15550000009"])
    assert_error(client.post("/api/v1/users", json=body, headers=auth(tokens, "admin")), 409, "conflict")
    bad = {"handle": "Not A Handle", "name": "x"}
    assert_error(client.post("/api/v1/users", json=bad, headers=auth(tokens, "admin")), 422, "invalid_input")
    missing = assert_error(
        client.post("/api/v1/users", json={"handle": "x"}, headers=auth(tokens, "admin")),
        422,
        "invalid_input",
    )
    assert missing["error"]["details"] == [{"field": "body.name", "message": "Field required"}]


# --- schedules -------------------------------------------------------------------------------------


def test_schedules_list_and_show(client: TestClient, tokens: dict[str, str]) -> None:
    page = client.get("/api/v1/schedules", headers=auth(tokens, "viewer")).json()
    assert [s["id"] for s in page["items"]] == ["nights", "team"]
    team = client.get("/api/v1/schedules/team", headers=auth(tokens, "viewer")).json()
    assert team["layers"] == [
        {
            "name": "weekly",
            "kind": "rotation",
            "role": "primary",
            "members": ["alice", "bob"],
            "shift": "1w",
            "handoff": None,
        }
    ]
    assert_error(client.get("/api/v1/schedules/nope", headers=auth(tokens, "viewer")), 404, "not_found")


def test_on_call_at_an_instant_includes_stored_overrides(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    schedule = runtime.config.schedules["team"]
    at = "2026-03-09T14:30:00+00:00"  # Monday 09:30 CDT: bob's week has begun
    # Sent as typed: the `+` of the offset arrives as a space and is read back as `+`.
    answer = client.get(f"/api/v1/schedules/team/on-call?at={at}", headers=auth(tokens, "viewer")).json()
    encoded = client.get("/api/v1/schedules/team/on-call", params={"at": at}, headers=auth(tokens, "viewer"))
    assert encoded.json() == answer
    expected = resolve_on_call(schedule, datetime.fromisoformat(at))
    assert (
        (answer["primary"], answer["secondary"]) == (expected.primary, expected.secondary) == ("bob", "alice")
    )
    assert answer["at"] == at
    now = client.get("/api/v1/schedules/team/on-call", headers=auth(tokens, "viewer")).json()
    assert (now["at"], now["primary"]) == ("2026-03-04T15:20:00+00:00", "alice")
    with session_scope(runtime.engine) as session:
        overrides.add_override(
            session,
            runtime.config,
            schedule_id="team",
            role="primary",
            user="carol",
            start=datetime(2026, 3, 9, 14, tzinfo=UTC),
            end=datetime(2026, 3, 9, 15, tzinfo=UTC),
            now=NOW,
        )
    answer = client.get(f"/api/v1/schedules/team/on-call?at={at}", headers=auth(tokens, "viewer")).json()
    assert (answer["primary"], answer["primary_source"]) == ("carol", "override")


@pytest.mark.parametrize("at", ["2026-03-09T14:30:00", "yesterday"])
def test_on_call_refuses_an_instant_without_offset(
    client: TestClient, tokens: dict[str, str], at: str
) -> None:
    body = assert_error(
        client.get(f"/api/v1/schedules/team/on-call?at={at}", headers=auth(tokens, "viewer")),
        422,
        "invalid_input",
    )
    assert at in body["error"]["message"]


def test_shifts_in_a_window_are_the_calculators(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    schedule = runtime.config.schedules["team"]
    start, end = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 22, tzinfo=UTC)
    query = "from=2026-03-01T00:00:00%2B00:00&to=2026-03-22T00:00:00Z"
    answer = client.get(f"/api/v1/schedules/team/shifts?{query}", headers=auth(tokens, "viewer")).json()
    expected = sorted(
        final_shifts(schedule, "primary", start, end) + final_shifts(schedule, "secondary", start, end),
        key=lambda s: (s.start, s.role != "primary"),
    )
    assert answer["items"] == [
        {"role": s.role, "user": s.user, "start": s.start.isoformat(), "end": s.end.isoformat()}
        for s in expected
    ]
    # The DST change on 2026-03-08 moves the Monday 09:00 handoff from 15:00 to 14:00 UTC.
    assert "2026-03-09T14:00:00+00:00" in {s["start"] for s in answer["items"]}
    only = client.get(
        f"/api/v1/schedules/team/shifts?{query}&role=secondary", headers=auth(tokens, "viewer")
    ).json()
    assert {s["role"] for s in only["items"]} == {"secondary"}
    assert (answer["start"], answer["end"]) == ("2026-03-01T00:00:00+00:00", "2026-03-22T00:00:00+00:00")


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-03-22T00:00:00Z&to=2026-03-01T00:00:00Z",  # ends before it starts
        "from=2026-01-01T00:00:00Z&to=2027-06-01T00:00:00Z",  # longer than 400 days
        "from=2026-03-01T00:00:00&to=2026-03-22T00:00:00Z",  # naive
        "from=2026-03-01T00:00:00Z&to=2026-03-22T00:00:00Z&role=tertiary",
        "from=2026-03-01T00:00:00Z",
    ],
)
def test_bad_shift_windows_are_invalid_input(client: TestClient, tokens: dict[str, str], query: str) -> None:
    assert_error(
        client.get(f"/api/v1/schedules/team/shifts?{query}", headers=auth(tokens, "viewer")),
        422,
        "invalid_input",
    )


# --- overrides -------------------------------------------------------------------------------------


def test_responder_creates_lists_and_deletes_an_override(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    created = client.post("/api/v1/overrides", json=OVERRIDE_BODY, headers=auth(tokens, "responder"))
    assert created.status_code == 201, created.text
    document = created.json()
    assert {k: document[k] for k in OVERRIDE_BODY} == OVERRIDE_BODY
    assert document["created_by"] == "api:responder"
    with session_scope(runtime.engine, read_only=True) as session:
        row = session.get(OverrideRow, document["id"])
        assert row is not None
        assert (row.schedule_id, row.user_handle, row.start) == (
            "team",
            "carol",
            datetime(2026, 3, 5, tzinfo=UTC),
        )
    listed = client.get("/api/v1/overrides?schedule=team", headers=auth(tokens, "viewer")).json()
    assert [o["id"] for o in listed["items"]] == [document["id"]]
    assert (
        client.get("/api/v1/overrides?schedule=nights", headers=auth(tokens, "viewer")).json()["items"] == []
    )
    deleted = client.delete(f"/api/v1/overrides/{document['id']}", headers=auth(tokens, "responder"))
    assert deleted.status_code == 204
    with session_scope(runtime.engine, read_only=True) as session:
        assert session.get(OverrideRow, document["id"]) is None
    assert_error(
        client.delete(f"/api/v1/overrides/{document['id']}", headers=auth(tokens, "responder")),
        404,
        "not_found",
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"end": "2026-03-04T00:00:00+00:00"}, None),  # end before start
        ({"end": OVERRIDE_BODY["start"]}, None),  # empty span
        ({"user": "zed"}, None),
        ({"schedule": "nope"}, None),
        ({"role": "tertiary"}, "body.role"),
        ({"start": "2026-03-05T00:00:00"}, "body.start"),  # naive
        ({"user": None}, "body.user"),
    ],
)
def test_invalid_overrides_are_refused_in_the_one_error_shape(
    client: TestClient, tokens: dict[str, str], runtime: Runtime, change: dict[str, Any], field: str | None
) -> None:
    body = {**OVERRIDE_BODY, **change}
    error = assert_error(
        client.post("/api/v1/overrides", json=body, headers=auth(tokens, "responder")), 422, "invalid_input"
    )
    if field is not None:
        assert field in [d["field"] for d in error["error"]["details"]]
    with session_scope(runtime.engine, read_only=True) as session:
        assert session.exec(select(OverrideRow)).all() == []


# --- policies and services -------------------------------------------------------------------------


def test_policies_are_read_with_durations_in_seconds(client: TestClient, tokens: dict[str, str]) -> None:
    policy = client.get("/api/v1/policies/main", headers=auth(tokens, "viewer")).json()
    assert policy == {
        "id": "main",
        "name": "Main",
        "repeat": 1,
        "ack_timeout_seconds": 1800,
        "auto_resolve_seconds": 14400,
        "levels": [
            {"notify": ["schedule:team"], "escalate_after_seconds": 300},
            {"notify": ["schedule:team/secondary", "user:carol"], "escalate_after_seconds": 600},
        ],
        "services": ["api", "web"],
    }
    assert [
        p["id"] for p in client.get("/api/v1/policies", headers=auth(tokens, "viewer")).json()["items"]
    ] == ["main"]
    assert_error(client.get("/api/v1/policies/nope", headers=auth(tokens, "viewer")), 404, "not_found")


def test_integration_keys_are_shown_to_admins_only(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    with session_scope(runtime.engine, read_only=True) as session:
        key = session.get(Service, "api").integration_key  # type: ignore[union-attr]
    for role, shown in (("viewer", None), ("responder", None), ("admin", key)):
        service = client.get("/api/v1/services/api", headers=auth(tokens, role)).json()
        assert (service["name"], service["policy"], service["integration_key"]) == ("API", "main", shown)
    listed = client.get("/api/v1/services", headers=auth(tokens, "admin")).json()["items"]
    assert [(s["id"], s["runbook"]) for s in listed] == [
        ("api", "https://wiki.example.com/api"),
        ("web", None),
    ]
    assert_error(client.get("/api/v1/services/nope", headers=auth(tokens, "viewer")), 404, "not_found")


def test_rotating_a_key_retires_the_old_one(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    with session_scope(runtime.engine, read_only=True) as session:
        old = session.get(Service, "api").integration_key  # type: ignore[union-attr]
    answer = client.post("/api/v1/services/api/rotate-key", headers=auth(tokens, "admin"))
    assert answer.status_code == 200
    new = answer.json()["integration_key"]
    assert new and new != old
    assert service_for_key(runtime, old) is None
    assert service_for_key(runtime, new) == "api"
    assert_error(
        client.post("/api/v1/services/nope/rotate-key", headers=auth(tokens, "admin")), 404, "not_found"
    )


# --- alerts ----------------------------------------------------------------------------------------


def test_alerts_are_filtered_and_paged(client: TestClient, tokens: dict[str, str], runtime: Runtime) -> None:
    ids = [
        trigger(runtime, service, f"k{i}", NOW + timedelta(seconds=i))
        for i, service in enumerate(["api", "web", "api", "api", "web"])
    ]
    alerts.act_on_alert(runtime, ids[2], "resolve", by="test", now=NOW)
    viewer = auth(tokens, "viewer")
    everything = client.get("/api/v1/alerts", headers=viewer).json()
    assert [a["id"] for a in everything["items"]] == ids[::-1]
    assert everything["next"] is None
    api_open = client.get("/api/v1/alerts?status=triggered&service=api", headers=viewer).json()
    assert [a["id"] for a in api_open["items"]] == [ids[3], ids[0]]
    first = client.get("/api/v1/alerts?limit=2", headers=viewer)
    assert [a["id"] for a in first.json()["items"]] == [ids[4], ids[3]]
    following = first.json()["next"]
    assert following == "/api/v1/alerts?limit=2&offset=2"
    assert first.headers["Link"] == f'<{following}>; rel="next"'
    second = client.get(following, headers=viewer).json()
    assert [a["id"] for a in second["items"]] == [ids[2], ids[1]]
    third = client.get(second["next"], headers=viewer)
    assert ([a["id"] for a in third.json()["items"]], third.json()["next"]) == ([ids[0]], None)
    assert "Link" not in third.headers
    filtered = client.get("/api/v1/alerts?service=web&limit=1", headers=viewer).json()
    assert filtered["next"] == "/api/v1/alerts?service=web&limit=1&offset=1"
    for bad in ("status=open", "limit=0", "limit=201", "offset=-1"):
        assert_error(client.get(f"/api/v1/alerts?{bad}", headers=viewer), 422, "invalid_input")


def test_an_alert_shows_its_timeline(client: TestClient, tokens: dict[str, str], runtime: Runtime) -> None:
    alert_id = trigger(runtime, "api", "disk")
    shown = client.get(f"/api/v1/alerts/{alert_id}", headers=auth(tokens, "viewer")).json()
    assert (shown["id"], shown["service"], shown["status"], shown["summary"]) == (
        alert_id,
        "api",
        "triggered",
        "disk broke",
    )
    with session_scope(runtime.engine, read_only=True) as session:
        stored = [(e.kind, e.message) for e in alerts.alert_timeline(session, alert_id)]
    assert stored and [(e["kind"], e["message"]) for e in shown["timeline"]] == stored
    assert shown["created_at"] == "2026-03-04T15:20:00+00:00"
    assert_error(client.get("/api/v1/alerts/999", headers=auth(tokens, "viewer")), 404, "not_found")


def test_responders_ack_escalate_and_resolve(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    alert_id = trigger(runtime, "api", "cpu")
    responder = auth(tokens, "responder")
    escalated = client.post(f"/api/v1/alerts/{alert_id}/escalate", headers=responder).json()
    assert escalated["alert"]["level"] == 2
    acked = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=responder).json()
    assert acked["alert"]["status"] == "acknowledged"
    assert acked["alert"]["acknowledged_by"] == "api:responder"
    assert acked["outcome"] == "applied"
    again = client.post(f"/api/v1/alerts/{alert_id}/ack", headers=responder).json()
    assert (again["outcome"], again["alert"]["status"]) == ("already_acknowledged", "acknowledged")
    resolved = client.post(f"/api/v1/alerts/{alert_id}/resolve", headers=responder).json()
    assert resolved["alert"]["status"] == "resolved"
    with session_scope(runtime.engine, read_only=True) as session:
        row = session.get(Alert, alert_id)
        assert row is not None
        assert (row.status, row.level, row.acknowledged_by, row.resolved_by) == (
            "resolved",
            2,
            "api:responder",
            "api:responder",
        )
    assert_error(client.post("/api/v1/alerts/999/ack", headers=responder), 404, "not_found")


# --- tokens ----------------------------------------------------------------------------------------


def test_api_tokens_are_shown_once_stored_hashed_and_revocable(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    admin = auth(tokens, "admin")
    created = client.post("/api/v1/tokens", json={"role": "responder", "name": "bot"}, headers=admin)
    assert created.status_code == 201
    document = created.json()
    plaintext = document["token"]
    with session_scope(runtime.engine, read_only=True) as session:
        row = session.get(ApiToken, document["id"])
        assert row is not None
        assert (row.role, row.name, row.token_hash) == ("responder", "bot", token_hash(plaintext))
        assert plaintext not in repr(row.model_dump())
    bot = {"Authorization": f"Bearer {plaintext}"}
    assert client.post("/api/v1/overrides", json=OVERRIDE_BODY, headers=bot).status_code == 201
    client.app.state.token_usage.wait_idle()  # type: ignore[attr-defined]  # written after the response
    listed = client.get("/api/v1/tokens", headers=admin).json()["items"]
    assert [t["name"] for t in listed] == ["viewer", "responder", "admin", "bot"]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert next(t for t in listed if t["name"] == "bot")["last_used_at"] == "2026-03-04T15:20:00+00:00"
    assert client.delete(f"/api/v1/tokens/{document['id']}", headers=admin).status_code == 204
    assert_error(client.get("/api/v1/users", headers=bot), 401, "unauthorized")
    assert_error(client.delete("/api/v1/tokens/999", headers=admin), 404, "not_found")
    bad = assert_error(
        client.post("/api/v1/tokens", json={"role": "root"}, headers=admin), 422, "invalid_input"
    )
    assert bad["error"]["details"][0]["field"] == "body.role"


def test_calendar_tokens_per_person_through_the_api(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    admin = auth(tokens, "admin")
    created = client.post("/api/v1/users/alice/calendar-tokens", headers=admin)
    assert created.status_code == 201
    document = created.json()
    assert document["url"] == f"https://pager.example.com/calendar/users/alice.ics?token={document['token']}"
    assert (document["feed"], document["target"]) == ("user", "alice")
    with session_scope(runtime.engine, read_only=True) as session:
        row = session.get(CalendarToken, document["id"])
        assert row is not None and row.token_hash == hashlib.sha256(document["token"].encode()).hexdigest()
    listed = client.get("/api/v1/users/alice/calendar-tokens", headers=admin).json()["items"]
    assert [t["id"] for t in listed] == [document["id"]]
    assert client.get("/api/v1/users/bob/calendar-tokens", headers=admin).json()["items"] == []
    # Revoking through another person's path finds nothing.
    assert_error(
        client.delete(f"/api/v1/users/bob/calendar-tokens/{document['id']}", headers=admin), 404, "not_found"
    )
    assert (
        client.delete(f"/api/v1/users/alice/calendar-tokens/{document['id']}", headers=admin).status_code
        == 204
    )
    listed = client.get("/api/v1/users/alice/calendar-tokens", headers=admin).json()["items"]
    assert listed[0]["revoked_at"] == "2026-03-04T15:20:00+00:00"
    assert_error(client.post("/api/v1/users/zed/calendar-tokens", headers=admin), 404, "not_found")
    schedule = client.post("/api/v1/schedules/team/calendar-tokens", headers=admin).json()
    assert schedule["url"].startswith("https://pager.example.com/calendar/schedules/team.ics?token=pgc_")
    assert_error(client.post("/api/v1/schedules/nope/calendar-tokens", headers=admin), 404, "not_found")


# --- OpenAPI ---------------------------------------------------------------------------------------


def test_openapi_documents_every_api_route(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        if path.startswith(("/api/v1", "/calendar"))
        for method, operation in item.items()
    ]
    assert len(operations) == len(MATRIX) + 2
    for path, method, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert success, where
        errors = [code for code in operation["responses"] if code[0] in "45"]
        assert errors, where
        for code in errors:
            example = operation["responses"][code]["content"]["application/json"]["example"]
            assert set(example["error"]) == {"code", "message", "details"}, where
        if path.startswith("/api/v1"):
            assert "401" in operation["responses"], where
            assert operation.get("security") == [{"HTTPBearer": []}], where


def test_every_operation_in_the_openapi_document_has_its_own_id(client: TestClient) -> None:
    # OpenAPI requires unique operationIds; a client generator may keep only one of two that clash
    # (a route of two methods once gave both the same one).
    document = client.get("/openapi.json").json()
    ids = [
        (operation["operationId"], f"{method.upper()} {path}")
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]
    clashing = {op_id for op_id, _ in ids if sum(1 for other, _ in ids if other == op_id) > 1}
    assert not clashing, sorted(where for op_id, where in ids if op_id in clashing)


# --- the command line ------------------------------------------------------------------------------


def test_token_commands(runtime: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    from pager.commands import tokens as token_commands

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test root."""

    token_commands.register(app)
    monkeypatch.setenv("PAGER_DATABASE_URL", str(runtime.engine.url.render_as_string(hide_password=False)))
    runner = CliRunner()
    created = runner.invoke(app, ["token", "create", "--role", "responder", "--name", "cli"])
    assert created.exit_code == 0, created.output
    plaintext = created.stdout.strip()
    assert plaintext.startswith("pgr_")
    answer = client.post(
        "/api/v1/overrides", json=OVERRIDE_BODY, headers={"Authorization": f"Bearer {plaintext}"}
    )
    assert answer.status_code == 201
    listed = runner.invoke(app, ["token", "list", "--json"])
    assert '"name": "cli"' in listed.stdout and plaintext not in listed.stdout
    bad = runner.invoke(app, ["token", "create", "--role", "root"])
    assert bad.exit_code == 1 and "role must be" in bad.stderr
    with session_scope(runtime.engine, read_only=True) as session:
        token_id = session.exec(select(ApiToken).where(ApiToken.name == "cli")).one().id
    assert runner.invoke(app, ["token", "revoke", str(token_id)]).exit_code == 0
    assert client.get("/api/v1/users", headers={"Authorization": f"Bearer {plaintext}"}).status_code == 401
    assert runner.invoke(app, ["token", "revoke", "999"]).exit_code == 1


# --- hostile input is refused, never a 500 --------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/api/v1/alerts/99999999999999999999", None),
        ("GET", "/api/v1/alerts?offset=99999999999999999999", None),
        ("POST", "/api/v1/alerts/0/ack", None),
        ("DELETE", "/api/v1/overrides/-1", None),
        ("GET", "/api/v1/users/ali%00ce", None),
        ("GET", "/api/v1/services/a%00", None),
        ("GET", "/api/v1/alerts?service=a%00", None),
        ("GET", "/api/v1/overrides?schedule=%00", None),
        ("GET", "/api/v1/schedules/team/on-call?at=9999-12-31T23:59:59-23:59", None),
        ("GET", "/api/v1/schedules/team/on-call?at=0001-01-01T00:00:00%2B05:00", None),
        ("GET", "/api/v1/schedules/team/shifts?from=8999-12-01T00:00:00Z&to=9000-01-02T00:00:00Z", None),
        ("POST", "/api/v1/users", {"handle": "eve", "name": "Eve\u0000"}),
        ("POST", "/api/v1/users", {"handle": "eve", "name": "Eve", "email": "e\u0000@example.com"}),
        ("POST", "/api/v1/tokens", {"role": "viewer", "name": "a\u0000b"}),
        ("POST", "/api/v1/overrides", {**OVERRIDE_BODY, "end": "9999-12-31T23:59:59-23:59"}),
        ("POST", "/api/v1/overrides", {**OVERRIDE_BODY, "user": "a\u0000"}),
    ],
)
def test_hostile_input_is_invalid_input(
    client: TestClient, tokens: dict[str, str], method: str, url: str, body: dict[str, Any] | None
) -> None:
    assert_error(client.request(method, url, json=body, headers=auth(tokens, "admin")), 422, "invalid_input")
