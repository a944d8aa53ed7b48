"""/api/v1/users/{handle}/...: profile edits, deactivation, contact methods and their verification,
rules and test pages; who may do what; bad input is refused and changes nothing.

test_rest's config, people (alice, bob, carol: sms and email each) and tokens (the responder acts
for alice).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from pager.api.app import create_app
from pager.api.deps import get_now
from pager.api.failure_limits import MAX_FAILURES
from pager.db.session import _writer_lock, session_scope
from pager.db.tables import ContactMethod, OutboxMessage
from pager.services.people.tokens import create_api_token
from pager.services.runtime import Runtime
from tests import support
from tests.api import test_rest
from tests.api.test_rest import NOW, assert_error, auth

runtime = test_rest.runtime
tokens = test_rest.tokens

pytestmark = pytest.mark.database


@pytest.fixture
def clock() -> support.Clock:
    return support.Clock(NOW)


@pytest.fixture
def client(runtime: Runtime, clock: support.Clock) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = clock
    app.state.token_usage.clock = clock
    with TestClient(app) as test_client:
        yield test_client


def outbox(runtime: Runtime) -> list[OutboxMessage]:
    with session_scope(runtime.engine, read_only=True) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))  # type: ignore[arg-type]


def method_row(runtime: Runtime, method_id: int) -> ContactMethod:
    with session_scope(runtime.engine, read_only=True) as session:
        found = session.get(ContactMethod, method_id)
        assert found is not None
        return found


def add_voice(client: TestClient, tokens: dict[str, str], address: str = "+15550000099") -> tuple[int, str]:
    """Add a voice number to alice as her own responder; (method id, the code the call reads out)."""
    answer = client.post(
        "/api/v1/users/alice/contact-methods",
        json={"kind": "voice", "address": address},
        headers=auth(tokens, "responder"),
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["verified"] is False and answer.json()["code_sent"] is True
    return answer.json()["id"], latest_code(client.app.state.runtime)  # type: ignore[attr-defined]


def latest_code(runtime: Runtime) -> str:
    body = [row for row in outbox(runtime) if row.idempotency_key.startswith("verify:")][-1].body
    return "".join(re.findall(r"(?<=is )[\d ]+(?=\.)", body)[0].split())


def verify(client: TestClient, tokens: dict[str, str], method_id: int, code: str) -> Any:
    return client.post(
        f"/api/v1/users/alice/contact-methods/{method_id}/verify",
        json={"code": code},
        headers=auth(tokens, "responder"),
    )


def test_a_method_added_through_the_api_is_unverified_until_its_code_is_given(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    method_id, code = add_voice(client, tokens)
    [notice] = [row for row in outbox(runtime) if row.idempotency_key.startswith("verify:")]
    assert (notice.method, notice.address, notice.alert_id) == ("voice", "+15550000099", None)
    row = method_row(runtime, method_id)
    assert row.code_hash is not None and code not in row.code_hash and len(row.code_hash) == 64
    rules = client.get("/api/v1/users/alice/rules", headers=auth(tokens, "viewer")).json()
    assert "voice" not in [r["method"] for r in rules]  # never paged while unverified
    answer = verify(client, tokens, method_id, code)
    assert answer.status_code == 200 and answer.json()["verified"] is True
    assert method_row(runtime, method_id).code_hash is None
    rules = client.get("/api/v1/users/alice/rules", headers=auth(tokens, "viewer")).json()
    assert rules == [
        {"method": "sms", "after": "0m"},
        {"method": "voice", "after": "1m"},
        {"method": "email", "after": "0m"},
    ]


def test_five_wrong_codes_kill_it_and_the_right_one_then_fails_too(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    method_id, code = add_voice(client, tokens)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert_error(verify(client, tokens, method_id, wrong), 422, "invalid_input")
    assert method_row(runtime, method_id).code_attempts == 5  # counted, though each answer was an error
    body = assert_error(verify(client, tokens, method_id, code), 422, "invalid_input")
    assert "no live code" in body["error"]["message"]
    assert method_row(runtime, method_id).verified is False


def test_a_code_expires_after_ten_minutes(
    client: TestClient, tokens: dict[str, str], runtime: Runtime, clock: support.Clock
) -> None:
    method_id, code = add_voice(client, tokens)
    clock.advance(minutes=10)
    assert_error(verify(client, tokens, method_id, code), 422, "invalid_input")
    assert method_row(runtime, method_id).verified is False


def test_a_new_code_replaces_the_old_one(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    method_id, old = add_voice(client, tokens)
    answer = client.post(
        f"/api/v1/users/alice/contact-methods/{method_id}/send-code", headers=auth(tokens, "responder")
    )
    assert answer.status_code == 200, answer.text
    new = latest_code(runtime)
    if old != new:
        assert_error(verify(client, tokens, method_id, old), 422, "invalid_input")
    assert verify(client, tokens, method_id, new).status_code == 200


def test_codes_to_one_person_are_capped_per_day_and_the_refusal_changes_nothing(
    client: TestClient, tokens: dict[str, str], runtime: Runtime, clock: support.Clock
) -> None:
    method_id, _ = add_voice(client, tokens)  # the first code of the day
    path = f"/api/v1/users/alice/contact-methods/{method_id}/send-code"
    for _ in range(9):
        assert client.post(path, headers=auth(tokens, "responder")).status_code == 200
    held = method_row(runtime, method_id).code_hash
    sent = len(outbox(runtime))
    assert_error(client.post(path, headers=auth(tokens, "responder")), 429, "throttled")
    assert (method_row(runtime, method_id).code_hash, len(outbox(runtime))) == (held, sent)
    clock.now += timedelta(days=1, seconds=1)  # a day after the first code
    assert client.post(path, headers=auth(tokens, "responder")).status_code == 200


def test_an_email_is_verified_by_posting_its_signed_link(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    answer = client.post(
        "/api/v1/users/alice/contact-methods",
        json={"kind": "email", "address": "alice@work.example.com"},
        headers=auth(tokens, "responder"),
    )
    method_id = answer.json()["id"]
    [link] = re.findall(r"https://pager\.example\.com(/verify/\S+)", outbox(runtime)[-1].body)
    assert client.get(link).status_code == 200  # a mail scanner's GET changes nothing
    assert method_row(runtime, method_id).verified is False
    assert client.post(link[:-3] + "xyz").status_code == 400
    assert client.post(link).status_code == 200
    assert method_row(runtime, method_id).verified is True
    # The link's token is also the code of the API's verify route.
    answer = client.post(
        "/api/v1/users/alice/contact-methods",
        json={"kind": "email", "address": "alice@home.example.com"},
        headers=auth(tokens, "responder"),
    )
    second = answer.json()["id"]
    [token] = re.findall(r"/verify/(\S+)", outbox(runtime)[-1].body)
    assert_error(verify(client, tokens, second, link.removeprefix("/verify/")), 422, "invalid_input")
    assert verify(client, tokens, second, token).json()["verified"] is True


def test_a_forged_verification_link_is_refused_without_a_transaction_and_counts_as_a_failure(
    client: TestClient, runtime: Runtime
) -> None:
    # Anyone may post any token: a write transaction per post took this process's SQLite writer
    # lock, which every trigger needs. Held here (a long write elsewhere), the post is still answered.
    writer = _writer_lock(runtime.engine)  # None on Postgres, which has no such lock
    with support.statements_sent(runtime.engine) as sent, writer or contextlib.nullcontext():
        answers = [client.post(f"/verify/forged-{n}").status_code for n in range(MAX_FAILURES)]
    assert answers == [400] * MAX_FAILURES
    assert sent == []
    refused = client.post("/verify/forged-again")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60


def test_a_responder_edits_only_the_person_its_token_acts_for(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    with session_scope(runtime.engine) as session:
        untied = create_api_token(session, role="responder", name="bot", now=NOW)[1]
    for headers in (auth(tokens, "responder"), {"Authorization": f"Bearer {untied}"}):
        assert_error(client.patch("/api/v1/users/bob", json={"name": "X"}, headers=headers), 403, "forbidden")
        assert_error(
            client.put("/api/v1/users/bob/rules", json=[{"method": "sms", "after": "0m"}], headers=headers),
            403,
            "forbidden",
        )
    assert client.get("/api/v1/users/bob", headers=auth(tokens, "viewer")).json()["name"] == "Bob"
    answer = client.patch("/api/v1/users/bob", json={"name": "Robert"}, headers=auth(tokens, "admin"))
    assert answer.status_code == 200 and answer.json()["name"] == "Robert"


def test_a_person_sets_and_clears_their_shift_reminder(client: TestClient, tokens: dict[str, str]) -> None:
    own = auth(tokens, "responder")  # acts for alice
    answer = client.patch("/api/v1/users/alice", json={"remind_before": "15m"}, headers=own)
    assert answer.status_code == 200 and answer.json()["remind_before"] == "15m"
    assert client.get("/api/v1/users/alice", headers=own).json()["remind_before"] == "15m"
    answer = client.patch("/api/v1/users/alice", json={"remind_before": None}, headers=own)
    assert answer.status_code == 200 and answer.json()["remind_before"] is None


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/api/v1/users/alice", {"time_zone": "Mars/Olympus"}),
        ("PATCH", "/api/v1/users/alice", {"name": "New", "sms": "12345"}),
        ("PATCH", "/api/v1/users/alice", {"name": ""}),
        ("PATCH", "/api/v1/users/alice", {"name": "New", "remind_before": "30s"}),
        ("PATCH", "/api/v1/users/alice", {"remind_before": "soon"}),
        ("PUT", "/api/v1/users/alice/rules", [{"method": "sms", "after": "soon"}]),
        ("PUT", "/api/v1/users/alice/rules", [{"method": "voice", "after": "0m"}]),  # no verified voice
        ("PUT", "/api/v1/users/alice/rules", []),
        ("PUT", "/api/v1/users/alice/rules", [{"method": "fax", "after": "0m"}]),
        ("POST", "/api/v1/users/alice/contact-methods", {"kind": "sms", "address": "nope"}),
        ("POST", "/api/v1/users/alice/test-page", {"method": "voice"}),  # no verified voice
    ],
)
def test_bad_input_is_422_and_changes_nothing(
    client: TestClient, tokens: dict[str, str], runtime: Runtime, method: str, path: str, body: Any
) -> None:
    before = client.get("/api/v1/users/alice", headers=auth(tokens, "viewer")).json()
    outbox_before = len(outbox(runtime))
    assert_error(
        client.request(method, path, json=body, headers=auth(tokens, "responder")), 422, "invalid_input"
    )
    assert client.get("/api/v1/users/alice", headers=auth(tokens, "viewer")).json() == before
    assert len(outbox(runtime)) == outbox_before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/api/v1/users/zed", {"name": "Z"}),
        ("POST", "/api/v1/users/zed/deactivate", None),
        ("GET", "/api/v1/users/zed/rules", None),
        ("GET", "/api/v1/users/zed/contact-methods", None),
        ("POST", "/api/v1/users/zed/test-page", {}),
        ("DELETE", "/api/v1/users/alice/contact-methods/999", None),
        ("POST", "/api/v1/users/alice/contact-methods/999/verify", {"code": "123456"}),
    ],
)
def test_unknown_people_and_methods_are_404(
    client: TestClient, tokens: dict[str, str], method: str, path: str, body: Any
) -> None:
    assert_error(client.request(method, path, json=body, headers=auth(tokens, "admin")), 404, "not_found")


def test_rules_put_and_get_round_trip(client: TestClient, tokens: dict[str, str]) -> None:
    steps = [{"method": "email", "after": "0m"}, {"method": "sms", "after": "90s"}]
    answer = client.put("/api/v1/users/alice/rules", json=steps, headers=auth(tokens, "responder"))
    assert answer.status_code == 200 and answer.json() == steps
    assert client.get("/api/v1/users/alice/rules", headers=auth(tokens, "viewer")).json() == steps


def test_a_test_page_queues_one_notice_per_verified_method(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    add_voice(client, tokens)  # unverified: not test-paged
    answer = client.post("/api/v1/users/alice/test-page", json={}, headers=auth(tokens, "responder"))
    assert answer.json() == [
        {"method": "sms", "address": "+15550000001"},
        {"method": "email", "address": "alice@example.com"},
    ]
    pages = [row for row in outbox(runtime) if row.idempotency_key.startswith("test-page:")]
    assert [(row.method, row.address, row.alert_id) for row in pages] == [
        ("sms", "+15550000001", None),
        ("email", "alice@example.com", None),
    ]


def test_deactivation_shows_and_stops_the_persons_own_token(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    answer = client.post("/api/v1/users/alice/deactivate", headers=auth(tokens, "admin"))
    assert answer.status_code == 200 and answer.json()["status"] == "deactivated"
    assert answer.json()["deactivated_at"] == "2026-03-04T15:20:00+00:00"
    assert_error(client.get("/api/v1/users", headers=auth(tokens, "responder")), 401, "unauthorized")
    answer = client.post("/api/v1/users/alice/reactivate", headers=auth(tokens, "admin"))
    assert answer.json()["status"] == "active"
    assert client.get("/api/v1/users", headers=auth(tokens, "responder")).status_code == 200


def test_a_user_added_through_the_api_has_unverified_methods_and_gets_codes(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    body = {"handle": "dana", "name": "Dana", "sms": "+15550000044"}
    answer = client.post("/api/v1/users", json=body, headers=auth(tokens, "admin"))
    assert [m["verified"] for m in answer.json()["contact_methods"]] == [False]
    assert answer.json()["notification_rules"] == []
    assert [row.address for row in outbox(runtime) if row.idempotency_key.startswith("verify:")] == [
        "+15550000044"
    ]


def test_a_code_just_before_the_ten_minutes_still_works(
    client: TestClient, tokens: dict[str, str], clock: support.Clock
) -> None:
    method_id, code = add_voice(client, tokens)
    clock.advance(minutes=9, seconds=59)
    assert verify(client, tokens, method_id, code).status_code == 200
    assert clock() - NOW < timedelta(minutes=10)
