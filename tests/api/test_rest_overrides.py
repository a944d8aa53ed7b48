"""/api/v1/overrides with the kinds remove and replace, and /api/v1/overrides/swap.

The fixtures are test_rest's: team has alice's week from 2026-03-02 09:00 Chicago (NOW is in it),
bob's from 2026-03-09; users alice, bob, carol; a token per role.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from pager.db.session import session_scope
from pager.db.tables import OverrideRow
from pager.services.runtime import Runtime
from tests.api import test_rest as rest
from tests.api.test_rest import assert_error, auth

pytestmark = pytest.mark.database

runtime = rest.runtime
tokens = rest.tokens
client = rest.client

REMOVE = {
    "schedule": "team",
    "kind": "remove",
    "user": "alice",
    "start": "2026-03-05T00:00:00+00:00",
    "end": "2026-03-06T00:00:00+00:00",
}
SWAP = {
    "schedule": "team",
    "user": "alice",
    "at": "2026-03-04T16:00:00+00:00",
    "with_user": "bob",
    "with_at": "2026-03-11T16:00:00+00:00",
}


def primary_at(client: TestClient, tokens: dict[str, str], at: str) -> Any:
    answer = client.get(f"/api/v1/schedules/team/on-call?at={at}", headers=auth(tokens, "viewer"))
    assert answer.status_code == 200, answer.text
    return answer.json()["primary"]


def stored(runtime: Runtime) -> list[OverrideRow]:
    with session_scope(runtime.engine, read_only=True) as session:
        return list(session.exec(select(OverrideRow)).all())


def test_remove_and_replace_over_rest(client: TestClient, tokens: dict[str, str]) -> None:
    assert primary_at(client, tokens, "2026-03-05T12:00:00Z") == "alice"
    created = client.post("/api/v1/overrides", json=REMOVE, headers=auth(tokens, "responder"))
    assert created.status_code == 201, created.text
    document = created.json()
    assert (document["kind"], document["user"], document["instead_of"]) == ("remove", "alice", None)
    assert primary_at(client, tokens, "2026-03-05T12:00:00Z") == "bob"

    replace = {**REMOVE, "kind": "replace", "user": "carol", "instead_of": "bob"}
    created = client.post("/api/v1/overrides", json=replace, headers=auth(tokens, "responder"))
    assert created.status_code == 201, created.text
    assert (created.json()["kind"], created.json()["instead_of"]) == ("replace", "bob")
    # Applied in creation order: alice removed (bob stands in), then carol instead of bob.
    assert primary_at(client, tokens, "2026-03-05T12:00:00Z") == "carol"
    listed = client.get("/api/v1/overrides", headers=auth(tokens, "viewer")).json()["items"]
    assert [(o["kind"], o["user"], o["instead_of"]) for o in listed] == [
        ("remove", "alice", None),
        ("replace", "carol", "bob"),
    ]


def test_swap_over_rest_returns_both_rows(client: TestClient, tokens: dict[str, str]) -> None:
    assert client.post("/api/v1/overrides/swap", json=SWAP, headers=auth(tokens, "viewer")).status_code == 403
    answer = client.post("/api/v1/overrides/swap", json=SWAP, headers=auth(tokens, "responder"))
    assert answer.status_code == 201, answer.text
    rows = answer.json()
    assert [(r["kind"], r["user"], r["instead_of"], r["start"], r["end"]) for r in rows] == [
        ("replace", "bob", "alice", "2026-03-02T15:00:00+00:00", "2026-03-09T14:00:00+00:00"),
        ("replace", "alice", "bob", "2026-03-09T14:00:00+00:00", "2026-03-16T14:00:00+00:00"),
    ]
    assert rows[0]["created_by"] == "api:responder"
    assert primary_at(client, tokens, "2026-03-04T16:00:00Z") == "bob"
    assert primary_at(client, tokens, "2026-03-11T16:00:00Z") == "alice"


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("", {**REMOVE, "user": "bob"}, "'bob' is not primary of 'team' between"),
        ("", {**REMOVE, "user": "zed"}, "no user 'zed'"),
        ("", {**REMOVE, "end": "2026-03-04T00:00:00+00:00"}, "override must end after it starts"),
        ("", {**REMOVE, "end": "2027-06-01T00:00:00+00:00"}, "at most 400 days"),
        ("", {**REMOVE, "kind": "replace", "user": "carol"}, "needs instead_of"),
        ("", {**REMOVE, "kind": "replace", "user": "carol", "instead_of": "zed"}, "no user 'zed'"),
        ("", {**REMOVE, "kind": "replace", "user": "carol", "instead_of": "bob"}, "'bob' is not primary"),
        ("", {**REMOVE, "instead_of": "bob"}, "instead_of is only for replace"),
        ("", {**REMOVE, "kind": "shove"}, None),
        ("/swap", {**SWAP, "with_at": SWAP["at"]}, "'bob' is not primary of 'team' at 2026-03-04T16:00:00"),
        ("/swap", {**SWAP, "at": SWAP["with_at"]}, "'alice' is not primary of 'team' at 2026-03-11"),
        ("/swap", {**SWAP, "with_user": "alice"}, "cannot swap 'alice' with themselves"),
        ("/swap", {**SWAP, "with_user": "zed"}, "no user 'zed'"),
        ("/swap", {**SWAP, "schedule": "nope"}, "no schedule 'nope'"),
        ("/swap", {**SWAP, "at": "2026-03-04T16:00:00"}, None),  # naive
    ],
)
def test_bad_override_kinds_are_422_naming_the_problem_and_store_nothing(
    client: TestClient,
    tokens: dict[str, str],
    runtime: Runtime,
    path: str,
    body: dict[str, Any],
    words: str | None,
) -> None:
    answer = client.post(f"/api/v1/overrides{path}", json=body, headers=auth(tokens, "responder"))
    error = assert_error(answer, 422, "invalid_input")
    if words is not None:
        assert words in error["error"]["message"], error
    assert stored(runtime) == []
    assert primary_at(client, tokens, "2026-03-05T12:00:00Z") == "alice"


def test_the_override_list_pages_in_the_database_and_can_leave_the_past_out(
    client: TestClient, tokens: dict[str, str]
) -> None:
    # Five one-day removals of alice, 03-02 .. 03-06, created in that order.
    for day in range(2, 7):
        body = {
            **REMOVE,
            "start": f"2026-03-0{day}T00:00:00+00:00",
            "end": f"2026-03-0{day + 1}T00:00:00+00:00",
        }
        assert (
            client.post("/api/v1/overrides", json=body, headers=auth(tokens, "responder")).status_code == 201
        )

    def starts(query: str) -> tuple[list[str], str | None]:
        answer = client.get(f"/api/v1/overrides{query}", headers=auth(tokens, "viewer"))
        assert answer.status_code == 200, answer.text
        return [o["start"][5:10] for o in answer.json()["items"]], answer.json()["next"]

    assert starts("?limit=2") == (["03-02", "03-03"], "/api/v1/overrides?limit=2&offset=2")
    assert starts("?limit=2&offset=4") == (["03-06"], None)
    # In force or to come at 03-05 00:00 (the one ending exactly then is over), oldest first, paged.
    after = "ending_after=2026-03-05T00:00:00%2B00:00"
    assert starts(f"?{after}") == (["03-05", "03-06"], None)
    assert starts(f"?{after}&schedule=team&limit=1") == (
        ["03-05"],
        "/api/v1/overrides?ending_after=2026-03-05T00%3A00%3A00%2B00%3A00&schedule=team&limit=1&offset=1",
    )
    assert starts("?ending_after=2026-03-04T23:59:59Z") == (["03-04", "03-05", "03-06"], None)
    assert starts("?ending_after=2026-03-07T00:00:00Z") == ([], None)
    for bad in ("2026-03-04T12:00:00", "yesterday"):
        answer = client.get(f"/api/v1/overrides?ending_after={bad}", headers=auth(tokens, "viewer"))
        assert answer.status_code == 422, answer.text
        assert "error" in answer.json(), answer.json()
