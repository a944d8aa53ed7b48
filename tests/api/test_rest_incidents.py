"""/api/v1/incidents: declare, show, change, list; the actor on the timeline; bad input in the one
error shape with nothing changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pager.services.runtime import Runtime
from tests.api.test_rest import NOW, assert_error, auth, client, runtime, tokens, trigger
from tests.services.incident_fixtures import snapshot

__all__ = ["client", "runtime", "tokens"]  # the fixtures this module uses

pytestmark = pytest.mark.database


def declare(client: TestClient, tokens: dict[str, str], **body: Any) -> dict[str, Any]:
    body = {"title": "API errors", "severity": "SEV1", "services": ["api"], **body}
    answer = client.post("/api/v1/incidents", json=body, headers=auth(tokens, "responder"))
    assert answer.status_code == 201, answer.text
    document: dict[str, Any] = answer.json()
    return document


def test_declare_show_and_change_an_incident(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    alert_id = trigger(runtime, "api", "5xx")
    created = declare(client, tokens, alerts=[alert_id], customer_impact=True, commander="bob")
    incident = created["id"]
    assert set(created) >= {
        "id",
        "number",
        "title",
        "severity",
        "status",
        "drill",
        "customer_impact",
        "services",
        "alerts",
        "roles",
        "missing_roles",
        "milestones",
        "next_update_due",
        "timeline",
    }
    assert created["roles"]["commander"] == "bob" and created["missing_roles"] == ["scribe"]
    assert created["next_update_due"] == (NOW + timedelta(minutes=30)).isoformat()
    declared_line = next(line for line in created["timeline"] if line["kind"] == "declared")
    assert declared_line["actor"] == "alice"  # the responder token acts for alice

    responder = auth(tokens, "responder")
    base = f"/api/v1/incidents/{incident}"
    steps = [
        ("roles", {"role": "scribe", "user": "carol", "reason": "takes notes"}),
        ("notes", {"text": "rolled back deploy 412"}),
        ("milestones", {"name": "impact_started", "at": (NOW - timedelta(hours=1)).isoformat()}),
        ("severity", {"severity": "SEV0", "reason": "all regions"}),
        ("status", {"status": "identified", "message": "bad deploy"}),
    ]
    for path, body in steps:
        answer = client.post(f"{base}/{path}", json=body, headers=responder)
        assert answer.status_code == 200, (path, answer.text)
    shown = client.get(base, headers=auth(tokens, "viewer")).json()
    assert shown["roles"]["scribe"] == "carol"
    assert shown["severity"] == "SEV0" and shown["status"] == "identified"
    assert shown["missing_roles"] == ["comms_lead", "executive_sponsor"]
    assert shown["milestones"]["impact_started"] == (NOW - timedelta(hours=1)).isoformat()
    assert shown["milestones"]["identified"] == NOW.isoformat()
    kinds = [line["kind"] for line in shown["timeline"]]
    assert kinds[0] == "alert.triggered"
    for kind in ("role_assigned", "note", "milestone_moved", "severity_changed", "status_changed"):
        assert kind in kinds
    assert {line["actor"] for line in shown["timeline"] if line["kind"] == "note"} == {"alice"}


def test_a_token_without_a_person_acts_as_itself(client: TestClient, tokens: dict[str, str]) -> None:
    answer = client.post(
        "/api/v1/incidents", json={"title": "Web slow", "severity": "SEV2"}, headers=auth(tokens, "admin")
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["timeline"][0]["actor"] == "token:admin"


def test_lists_leave_drills_out_unless_asked(client: TestClient, tokens: dict[str, str]) -> None:
    real = declare(client, tokens)["id"]
    drill = declare(client, tokens, title="Practice", drill=True)["id"]
    viewer = auth(tokens, "viewer")
    assert [i["id"] for i in client.get("/api/v1/incidents", headers=viewer).json()["items"]] == [real]
    both = client.get("/api/v1/incidents?drill=true", headers=viewer).json()["items"]
    assert [i["id"] for i in both] == [drill, real]
    client.post(
        f"/api/v1/incidents/{real}/status", json={"status": "resolved"}, headers=auth(tokens, "responder")
    )
    open_only = client.get("/api/v1/incidents?open=true&drill=true", headers=viewer).json()["items"]
    assert [i["id"] for i in open_only] == [drill]


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "message"),
    [
        ("", {"title": "x", "severity": "SEV9"}, 422, "invalid_input", ""),
        (
            "",
            {"title": "x", "severity": "SEV1", "services": ["nope"]},
            422,
            "invalid_input",
            "no service 'nope'",
        ),
        ("/{id}/status", {"status": "fixed"}, 422, "invalid_input", ""),
        (
            "/{id}/status",
            {"status": "closed"},
            422,
            "invalid_input",
            "resolve the incident before closing it",
        ),
        ("/{id}/roles", {"role": "captain", "user": "bob"}, 422, "invalid_input", ""),
        ("/{id}/roles", {"role": "scribe", "user": "zed"}, 422, "invalid_input", "no user 'zed'"),
        (
            "/{id}/milestones",
            {"name": "detected", "at": (NOW - timedelta(days=1)).isoformat()},
            422,
            "invalid_input",
            "earlier than impact_started",
        ),
        ("/{id}/milestones", {"name": "landed", "at": NOW.isoformat()}, 422, "invalid_input", ""),
        ("/999/notes", {"text": "hello"}, 404, "not_found", "no incident 999"),
    ],
)
def test_bad_input_is_a_clear_error_and_changes_nothing(
    client: TestClient,
    tokens: dict[str, str],
    runtime: Runtime,
    path: str,
    body: dict[str, Any],
    status: int,
    code: str,
    message: str,
) -> None:
    incident = declare(client, tokens)["id"]
    client.post(
        f"/api/v1/incidents/{incident}/milestones",
        json={"name": "impact_started", "at": (NOW - timedelta(hours=1)).isoformat()},
        headers=auth(tokens, "responder"),
    )
    before = snapshot(runtime)
    answer = client.post(
        "/api/v1/incidents" + path.format(id=incident), json=body, headers=auth(tokens, "responder")
    )
    error = assert_error(answer, status, code)
    assert message in error["error"]["message"]
    assert snapshot(runtime) == before


def test_a_closed_incident_is_409(client: TestClient, tokens: dict[str, str], runtime: Runtime) -> None:
    incident = declare(client, tokens)["id"]
    responder = auth(tokens, "responder")
    for status in ("resolved", "closed"):
        client.post(f"/api/v1/incidents/{incident}/status", json={"status": status}, headers=responder)
    before = snapshot(runtime)
    answer = client.post(f"/api/v1/incidents/{incident}/notes", json={"text": "late"}, headers=responder)
    assert "closed" in assert_error(answer, 409, "conflict")["error"]["message"]
    assert snapshot(runtime) == before
