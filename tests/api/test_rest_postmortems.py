"""/api/v1/incidents/{id}/postmortem and /api/v1/action-items in process (docs/api.md,
docs/incidents.md): the answers, the error shape, and that a refused request changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pager.db.session import session_scope
from pager.services.incidents.changes import change_status
from pager.services.incidents.declaring import declare
from pager.services.incidents.postmortems import open_postmortem
from pager.services.runtime import Runtime
from tests.api.test_rest import NOW, assert_error, auth, client, runtime, tokens

__all__ = ["client", "runtime", "tokens"]

pytestmark = pytest.mark.database


def incident(
    runtime: Runtime, *, resolved: bool = True, drill: bool = False, title: str = "Checkout errors"
) -> int:
    rules = runtime.config.incidents
    with session_scope(runtime.engine) as session:
        row = declare(
            session,
            rules,
            title=title,
            severity="SEV1",
            drill=drill,
            actor="alice",
            now=NOW - timedelta(hours=2),
        )
        assert row.id is not None
        if resolved:
            change_status(session, rules, row.id, "resolved", actor="alice", now=NOW - timedelta(hours=1))
            open_postmortem(session, row, rules, NOW - timedelta(hours=1))
        return row.id


def test_a_postmortem_is_shown_edited_and_moved(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    incident_id = incident(runtime)
    url = f"/api/v1/incidents/{incident_id}/postmortem"
    shown = client.get(url, headers=auth(tokens, "viewer"))
    assert shown.status_code == 200, shown.text
    document = shown.json()
    assert (document["status"], document["incident_id"], document["published_at"]) == (
        "draft",
        incident_id,
        None,
    )
    assert document["body"].startswith("# Postmortem: incident 1 — Checkout errors\n")
    assert document["mttr_seconds"] == 3600
    edited = client.put(url, json={"body": "# Ours now\n"}, headers=auth(tokens, "responder"))
    assert edited.status_code == 200 and edited.json()["body"] == "# Ours now\n"
    refused = client.post(f"{url}/status", json={"status": "published"}, headers=auth(tokens, "responder"))
    assert "may move to in_review" in assert_error(refused, 409, "conflict")["error"]["message"]
    assert_error(
        client.post(f"{url}/status", json={"status": "final"}, headers=auth(tokens, "responder")),
        422,
        "invalid_input",
    )
    assert client.get(url, headers=auth(tokens, "viewer")).json()["status"] == "draft"
    for status in ("in_review", "published"):
        moved = client.post(f"{url}/status", json={"status": status}, headers=auth(tokens, "responder"))
        assert moved.status_code == 200 and moved.json()["status"] == status
    assert client.get(url, headers=auth(tokens, "viewer")).json()["published_at"] == NOW.isoformat()
    assert_error(
        client.put(url, json={"body": "# Late\n"}, headers=auth(tokens, "responder")), 409, "conflict"
    )
    timeline = client.get(f"/api/v1/incidents/{incident_id}", headers=auth(tokens, "viewer")).json()[
        "timeline"
    ]
    moves = [(line["kind"], line["actor"]) for line in timeline if line["kind"].startswith("postmortem")]
    assert moves == [
        ("postmortem_opened", "system"),
        ("postmortem_edited", "alice"),  # the responder token acts for alice
        ("postmortem_in_review", "alice"),
        ("postmortem_published", "alice"),
    ]


def test_no_postmortem_before_resolve_and_no_incident_are_404(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    open_one = incident(runtime, resolved=False)
    missing = client.get(f"/api/v1/incidents/{open_one}/postmortem", headers=auth(tokens, "viewer"))
    assert "has no postmortem yet" in assert_error(missing, 404, "not_found")["error"]["message"]
    assert_error(
        client.get("/api/v1/incidents/999/postmortem", headers=auth(tokens, "viewer")), 404, "not_found"
    )
    empty = client.put(
        f"/api/v1/incidents/{open_one}/postmortem", json={"body": ""}, headers=auth(tokens, "responder")
    )
    assert_error(empty, 422, "invalid_input")


def add(client: TestClient, tokens: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v1/action-items", json=body, headers=auth(tokens, "responder"))


def test_action_items_are_added_listed_and_done(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    incident_id = incident(runtime)
    drill_id = incident(runtime, drill=True, title="Game day")
    created = add(
        client,
        tokens,
        incident=incident_id,
        title="Add a canary",
        owner="bob",
        due="2026-03-03",
        link="https://t.example.com/1",
    )
    assert created.status_code == 201, created.text
    item = created.json()
    assert {k: item[k] for k in ("title", "owner", "due_on", "status", "overdue", "created_by", "link")} == {
        "title": "Add a canary",
        "owner": "bob",
        "due_on": "2026-03-03",
        "status": "open",
        "overdue": True,  # NOW is 4 March
        "created_by": "alice",
        "link": "https://t.example.com/1",
    }
    later = add(client, tokens, incident=incident_id, title="Runbook", owner="carol", due="2026-03-20").json()
    add(client, tokens, incident=drill_id, title="Practise", owner="carol", due="2026-03-01")
    listed = client.get("/api/v1/action-items", headers=auth(tokens, "viewer")).json()
    assert [i["id"] for i in listed["items"]] == [item["id"], later["id"]]
    overdue = client.get("/api/v1/action-items?overdue=true", headers=auth(tokens, "viewer")).json()
    assert [i["id"] for i in overdue["items"]] == [item["id"]]
    with_drills = client.get(
        "/api/v1/action-items?overdue=true&drill=true", headers=auth(tokens, "viewer")
    ).json()
    assert [i["title"] for i in with_drills["items"]] == ["Practise", "Add a canary"]
    for _ in range(2):
        done = client.post(f"/api/v1/action-items/{item['id']}/done", headers=auth(tokens, "responder"))
        assert done.status_code == 200 and done.json()["done_at"] == NOW.isoformat()
    assert [
        i["id"] for i in client.get("/api/v1/action-items", headers=auth(tokens, "viewer")).json()["items"]
    ] == [later["id"]]
    everything = client.get("/api/v1/action-items?all=true", headers=auth(tokens, "viewer")).json()
    assert len(everything["items"]) == 2
    assert_error(
        client.post("/api/v1/action-items/999/done", headers=auth(tokens, "responder")), 404, "not_found"
    )


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ({"incident": 999}, 422, "no incident 999"),
        ({"owner": "zed"}, 422, "owner 'zed': no such user"),
        ({"due": "next week"}, 422, ""),
        ({"title": ""}, 422, ""),
        ({"link": "javascript:alert(1)"}, 422, "is not an http(s) URL"),
        ({"link": "https://t.example.com/\u0000"}, 422, "is not an http(s) URL"),
        ({"title": "ADD A CANARY"}, 409, "already has an action item titled 'ADD A CANARY'"),
    ],
)
def test_bad_action_items_are_refused_and_change_nothing(
    client: TestClient,
    tokens: dict[str, str],
    runtime: Runtime,
    changes: dict[str, Any],
    status: int,
    message: str,
) -> None:
    incident_id = incident(runtime)
    good = {"incident": incident_id, "title": "Add a canary", "owner": "bob", "due": "2026-03-09"}
    assert add(client, tokens, **good).status_code == 201
    before = client.get("/api/v1/action-items?all=true", headers=auth(tokens, "viewer")).json()
    refused = add(client, tokens, **{**good, **changes})
    body = assert_error(refused, status, "conflict" if status == 409 else "invalid_input")
    assert message in body["error"]["message"]
    assert client.get("/api/v1/action-items?all=true", headers=auth(tokens, "viewer")).json() == before
