"""/api/v1/alerts/{id}/snooze and /api/v1/maintenance: what they change; bad input in the one error shape."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pager.services.runtime import Runtime
from tests.api.test_rest import NOW, assert_error, auth, client, runtime, tokens, trigger
from tests.api.test_twilio_webhooks import snapshot

__all__ = ["client", "runtime", "tokens"]  # the fixtures this module uses

pytestmark = pytest.mark.database


def test_a_responder_snoozes_an_alert(client: TestClient, tokens: dict[str, str], runtime: Runtime) -> None:
    alert_id = trigger(runtime, "api", "snooze")
    answer = client.post(
        f"/api/v1/alerts/{alert_id}/snooze", json={"minutes": 45}, headers=auth(tokens, "responder")
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["outcome"] == "applied"
    assert body["alert"]["status"] == "acknowledged" and body["alert"]["acknowledged_by"] == "api:responder"
    assert body["alert"]["next_action_at"] == (NOW + timedelta(minutes=45)).isoformat()
    timeline = client.get(f"/api/v1/alerts/{alert_id}", headers=auth(tokens, "viewer")).json()["timeline"]
    [line] = [entry for entry in timeline if entry["kind"] == "snoozed"]
    assert line["message"].startswith("snoozed by api:responder for 45m, until 2026-03-04T16:05:00+00:00")


@pytest.mark.parametrize(
    "body", [{"minutes": 0}, {"minutes": 1441}, {"minutes": "soon"}, {}, {"minutes": -1}]
)
def test_a_bad_snooze_is_422_and_changes_nothing(
    client: TestClient, tokens: dict[str, str], runtime: Runtime, body: dict[str, Any]
) -> None:
    alert_id = trigger(runtime, "api", "bad-snooze")
    before = snapshot(runtime)
    answer = client.post(f"/api/v1/alerts/{alert_id}/snooze", json=body, headers=auth(tokens, "responder"))
    assert_error(answer, 422, "invalid_input")
    assert snapshot(runtime) == before


def test_snoozing_an_unknown_alert_is_404(client: TestClient, tokens: dict[str, str]) -> None:
    answer = client.post("/api/v1/alerts/999/snooze", json={"minutes": 5}, headers=auth(tokens, "responder"))
    assert_error(answer, 404, "not_found")


def test_a_window_holds_new_alerts_and_ending_it_pages_them(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    responder = auth(tokens, "responder")
    started = client.post(
        "/api/v1/maintenance", json={"service": "api", "for": "2h", "reason": "upgrade"}, headers=responder
    )
    assert started.status_code == 201, started.text
    window = started.json()
    assert window | {"id": 0} == {
        "id": 0,
        "service": "api",
        "start": NOW.isoformat(),
        "end": (NOW + timedelta(hours=2)).isoformat(),
        "reason": "upgrade",
        "state": "active",
        "created_by": "api:responder",
        "ended_by": None,
    }
    alert_id = trigger(runtime, "api", "held")
    shown = client.get(f"/api/v1/alerts/{alert_id}", headers=auth(tokens, "viewer")).json()
    assert shown["status"] == "suppressed"
    listed = client.get("/api/v1/alerts?status=suppressed", headers=auth(tokens, "viewer")).json()
    assert [a["id"] for a in listed["items"]] == [alert_id]
    current = client.get("/api/v1/maintenance?current=true", headers=auth(tokens, "viewer")).json()
    assert [w["id"] for w in current["items"]] == [window["id"]]

    ended = client.post(f"/api/v1/maintenance/{window['id']}/end", headers=responder)
    assert ended.status_code == 200, ended.text
    assert ended.json()["released"] == 1 and ended.json()["window"]["state"] == "ended"
    assert client.get(f"/api/v1/alerts/{alert_id}", headers=responder).json()["status"] == "triggered"
    assert_error(client.post(f"/api/v1/maintenance/{window['id']}/end", headers=responder), 409, "conflict")
    assert_error(client.post("/api/v1/maintenance/999/end", headers=responder), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"service": "nope", "for": "1h"}, 422, "invalid_input"),
        ({"service": "api", "for": "2 hours"}, 422, "invalid_input"),
        ({"service": "api", "for": "0s"}, 422, "invalid_input"),
        ({"service": "api"}, 422, "invalid_input"),
        ({"service": "api", "for": "1h", "reason": "x" * 501}, 422, "invalid_input"),
    ],
)
def test_bad_windows_are_4xx_and_change_nothing(
    client: TestClient, tokens: dict[str, str], runtime: Runtime, body: dict[str, Any], status: int, code: str
) -> None:
    answer = client.post("/api/v1/maintenance", json=body, headers=auth(tokens, "responder"))
    assert_error(answer, status, code)
    assert client.get("/api/v1/maintenance", headers=auth(tokens, "viewer")).json()["items"] == []


def test_an_overlapping_window_is_409(client: TestClient, tokens: dict[str, str]) -> None:
    responder = auth(tokens, "responder")
    first = client.post("/api/v1/maintenance", json={"service": "api", "for": "1h"}, headers=responder).json()
    answer = client.post("/api/v1/maintenance", json={"service": "api", "for": "3h"}, headers=responder)
    body = assert_error(answer, 409, "conflict")
    assert f"already in maintenance window {first['id']}" in body["error"]["message"]
