"""/api/v1/incidents/{id}/updates: a posted update is stored, moves the due instant and ends an
overdue ladder; bad input, unknown and closed incidents in the one error shape, nothing changed."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pager.db.incident_tables import Incident
from pager.db.incident_timeline import incident_events_of
from pager.db.session import session_scope
from pager.services.incidents.overdue_updates import run_overdue_updates
from pager.services.runtime import Runtime
from tests.api.test_rest import NOW, assert_error, auth, client, runtime, tokens
from tests.services.test_incident_updates import DUE, declare, pages

__all__ = ["client", "runtime", "tokens"]  # the fixtures this module uses

pytestmark = pytest.mark.database


def state(runtime: Runtime, incident_id: int) -> tuple[Any, ...]:
    with session_scope(runtime.engine, read_only=True) as session:
        row = session.get(Incident, incident_id)
        assert row is not None
        events = [(e.kind, e.actor, e.message) for e in incident_events_of(session, incident_id)]
        return row.status, row.last_update_at, row.next_update_due_at, events


def test_a_responder_posts_an_update_that_stops_the_overdue_ladder(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    incident_id = declare(runtime)
    assert run_overdue_updates(runtime, DUE).paged == 1  # alice, the comms lead, paged at due
    answer = client.post(
        f"/api/v1/incidents/{incident_id}/updates",
        json={"text": "Rolled back the deploy", "public": True, "status": "monitoring"},
        headers=auth(tokens, "responder"),
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body == {
        "id": body["id"],
        "incident_id": incident_id,
        "at": NOW.isoformat(),
        "author": "alice",  # the responder token acts for alice
        "text": "Rolled back the deploy",
        "public": True,
        "status": "monitoring",
    }
    status, last, due, events = state(runtime, incident_id)
    assert (status, last, due) == ("monitoring", NOW, NOW + (DUE - declared_at(runtime, incident_id)))
    assert ("update", "alice", "public update: Rolled back the deploy") in events
    assert [kind for kind, _, _ in events][-1] == "update_ladder_stopped"
    assert run_overdue_updates(runtime, NOW).paged == 0  # no commander page: the ladder is over
    assert {row.user_handle for row in pages(runtime)} == {"alice"}
    listed = client.get(f"/api/v1/incidents/{incident_id}/updates", headers=auth(tokens, "viewer")).json()
    assert [item["text"] for item in listed["items"]] == ["Rolled back the deploy"]


def test_a_token_without_a_person_is_named_on_the_update(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    incident_id = declare(runtime)
    answer = client.post(
        f"/api/v1/incidents/{incident_id}/updates", json={"text": "Looking"}, headers=auth(tokens, "admin")
    )
    assert answer.status_code == 201, answer.text
    assert (answer.json()["author"], answer.json()["public"]) == ("token:admin", False)


@pytest.mark.parametrize(
    "body",
    [{"text": ""}, {"text": "   "}, {"text": "ok", "status": "fixed"}, {}, {"text": "a\x00b"}, {"text": 5}],
)
def test_bad_updates_are_422_and_change_nothing(
    client: TestClient, tokens: dict[str, str], runtime: Runtime, body: dict[str, Any]
) -> None:
    incident_id = declare(runtime)
    before = state(runtime, incident_id)
    answer = client.post(
        f"/api/v1/incidents/{incident_id}/updates", json=body, headers=auth(tokens, "responder")
    )
    assert_error(answer, 422, "invalid_input")
    assert state(runtime, incident_id) == before


def test_unknown_and_closed_incidents(client: TestClient, tokens: dict[str, str], runtime: Runtime) -> None:
    responder = auth(tokens, "responder")
    missing = client.post("/api/v1/incidents/999/updates", json={"text": "x"}, headers=responder)
    assert_error(missing, 404, "not_found")
    assert_error(client.get("/api/v1/incidents/999/updates", headers=responder), 404, "not_found")
    closed = declare(runtime, status="closed")
    before = state(runtime, closed)
    answer = client.post(f"/api/v1/incidents/{closed}/updates", json={"text": "x"}, headers=responder)
    assert "closed" in assert_error(answer, 409, "conflict")["error"]["message"]
    assert state(runtime, closed) == before


def declared_at(runtime: Runtime, incident_id: int) -> Any:
    with session_scope(runtime.engine, read_only=True) as session:
        row = session.get(Incident, incident_id)
        assert row is not None
        return row.declared_at
