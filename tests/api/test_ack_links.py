"""One-click email links over HTTP: GET only shows, POST acts once, bad links are refused.

The rules are in docs/phone-and-email.md, "Email links".

The links are taken from the email page the engine really queued, so the whole path is exercised.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from freezegun import freeze_time
from sqlmodel import select

from pager.api.failure_limits import MAX_FAILURES
from pager.db.session import session_scope
from pager.db.tables import TimelineEntry
from pager.services.alerting.alerts import act_on_alert
from pager.services.phone import link_actions
from pager.services.phone.email_links import make_link_token
from pager.services.runtime import Runtime
from tests.api import test_twilio_webhooks as webhooks
from tests.api.test_twilio_webhooks import T0, Clock, alert_row, outbox, page, snapshot
from tests.support import statements_sent

pytestmark = pytest.mark.database

# The same migrated database, config, users and app as the webhook tests.
runtime = webhooks.runtime
clock = webhooks.clock
client = webhooks.client


def links(runtime: Runtime, alert_id: int) -> dict[str, str]:
    """`{"ack": path, "resolve": path}` from the email page sent to alice."""
    body = outbox(runtime, alert_id, "email").body
    found = dict(re.findall(r"^(Acknowledge|Resolve): https://pager\.example\.com(/ack/\S+)$", body, re.M))
    return {"ack": found["Acknowledge"], "resolve": found["Resolve"]}


def used_nonces(runtime: Runtime, alert_id: int) -> list[str]:
    with session_scope(runtime.engine, read_only=True) as session:
        query = select(TimelineEntry).where(
            TimelineEntry.alert_id == alert_id, TimelineEntry.kind == "link_used"
        )
        return [entry.data["nonce"] for entry in session.exec(query)]


def test_get_shows_a_confirmation_page_and_changes_nothing(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    before = snapshot(runtime)
    response = client.get(links(runtime, alert_id)["ack"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert f"<h1>Acknowledge alert {alert_id}?</h1>" in response.text
    assert "High error rate" in response.text and "checkout-api" in response.text
    assert "<form method='post'>" in response.text
    assert client.get(links(runtime, alert_id)["ack"]).status_code == 200  # a mail scanner, then the person
    assert snapshot(runtime) == before


def test_post_acknowledges_then_the_same_link_is_refused(
    client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    alert_id = page(runtime)
    path = links(runtime, alert_id)["ack"]
    clock.now = T0 + timedelta(minutes=2)
    response = client.post(path)
    assert response.status_code == 200, response.text
    assert f"<h1>Alert {alert_id} acknowledged.</h1>" in response.text
    row = alert_row(runtime, alert_id)
    assert (row.status, row.acknowledged_by, row.acknowledged_at) == ("acknowledged", "alice", clock.now)
    assert len(used_nonces(runtime, alert_id)) == 1

    before = snapshot(runtime)
    clock.now = T0 + timedelta(minutes=3)
    for method in (client.post, client.get):
        replay = method(path)
        assert replay.status_code == 409
        assert "This link was already used" in replay.text
        assert "Nothing was changed" in replay.text
    assert snapshot(runtime) == before


def test_an_address_posting_refused_links_is_refused_before_the_database_is_asked(
    client: TestClient, runtime: Runtime
) -> None:
    # A used link posted again and again (it lives in an email for a day) took a write transaction
    # each time: on SQLite, the writer lock every trigger needs.
    alert_id = page(runtime)
    path = links(runtime, alert_id)["ack"]
    assert client.post(path).status_code == 200
    answers = [method(path).status_code for method in (client.post, client.get) * (MAX_FAILURES // 2)]
    assert answers == [409] * MAX_FAILURES
    with statements_sent(runtime.engine) as sent:
        for method in (client.post, client.get):
            refused = method(path)
            assert refused.status_code == 429
            assert 0 < int(refused.headers["Retry-After"]) <= 60
            assert refused.json()["error"]["code"] == "throttled"
    assert sent == []


def test_two_clicks_at_once_act_once(runtime: Runtime) -> None:
    alert_id = page(runtime)
    token = links(runtime, alert_id)["ack"].removeprefix("/ack/")

    def click(_: int) -> str:
        try:
            return link_actions.use_link(runtime, token, T0 + timedelta(seconds=30)).outcome
        except link_actions.LinkRefused as refusal:
            return refusal.problem

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = sorted(pool.map(click, range(6)))
    assert outcomes == ["applied"] + ["used"] * 5
    assert len(used_nonces(runtime, alert_id)) == 1


def test_resolve_link_works_after_the_ack_link_was_used(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    paths = links(runtime, alert_id)
    assert client.post(paths["ack"]).status_code == 200
    response = client.post(paths["resolve"])
    assert response.status_code == 200
    assert f"Alert {alert_id} resolved." in response.text
    row = alert_row(runtime, alert_id)
    assert (row.status, row.resolved_by) == ("resolved", "alice")
    assert len(set(used_nonces(runtime, alert_id))) == 2


def test_link_for_an_alert_someone_else_acknowledged_answers_politely(
    client: TestClient, runtime: Runtime
) -> None:
    alert_id = page(runtime)
    act_on_alert(runtime, alert_id, "ack", by="bob", now=T0 + timedelta(seconds=5))
    path = links(runtime, alert_id)["ack"]
    shown = client.get(path)
    assert shown.status_code == 200 and "acknowledged by bob" in shown.text
    response = client.post(path)
    assert response.status_code == 200
    assert f"Alert {alert_id} is already acknowledged by bob." in response.text
    assert alert_row(runtime, alert_id).acknowledged_by == "bob"


def test_tampered_and_foreign_tokens_are_refused(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    path = links(runtime, alert_id)["ack"]
    token = path.removeprefix("/ack/")
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    forged = make_link_token("another-secret", alert_id, "ack", "alice")
    before = snapshot(runtime)
    for bad in (flipped, forged, "nope", token + "x"):
        for method in (client.get, client.post):
            response = method(f"/ack/{bad}")
            assert response.status_code == 400, bad
            assert "This link is not valid" in response.text
    assert snapshot(runtime) == before
    assert alert_row(runtime, alert_id).status == "triggered"


@pytest.mark.parametrize("user", ["bob", "carol", "dana"])
def test_genuine_link_for_someone_never_paged_for_the_alert_is_refused(
    client: TestClient, runtime: Runtime, user: str
) -> None:
    # Bob shares the rotation, carol is level 2 (not reached yet), dana is only registered: a link
    # signed with the real key for any of them must not act, since only alice was paged.
    alert_id = page(runtime)
    assert runtime.settings.secret_key is not None
    token = make_link_token(runtime.settings.secret_key, alert_id, "ack", user)
    before = snapshot(runtime)
    for method in (client.get, client.post):
        response = method(f"/ack/{token}")
        assert response.status_code == 403, response.text
        assert "This link cannot act on this alert" in response.text
        assert f"{user} was not paged for alert {alert_id}." in response.text
        assert "Nothing was changed" in response.text
    assert snapshot(runtime) == before
    assert alert_row(runtime, alert_id).status == "triggered"
    assert used_nonces(runtime, alert_id) == []


def test_without_a_key_email_pages_still_go_out_without_links(client: TestClient, runtime: Runtime) -> None:
    # Only a command-line process can lack the key (serve and worker refuse to start): `pager alert
    # trigger` must still page, and a link can be neither made nor checked without it.
    signed = links(runtime, page(runtime, key="signed"))["ack"]
    runtime.settings = runtime.settings.model_copy(update={"secret_key": None})
    alert_id = page(runtime, key="unsigned")
    body = outbox(runtime, alert_id, "email").body
    assert "/ack/" not in body
    assert f"Acknowledge by replying to the SMS page or with `pager alert ack {alert_id}`." in body
    before = snapshot(runtime)
    assert client.post(signed).status_code == 400
    assert snapshot(runtime) == before


def test_expired_token_is_refused(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    # itsdangerous stamps tokens with the wall clock, so mint this one a day and a minute ago.
    with freeze_time(datetime.fromtimestamp(time.time(), UTC) - timedelta(hours=24, minutes=1)):
        token = make_link_token(runtime.settings.secret_key, alert_id, "ack", "alice")
    before = snapshot(runtime)
    for method in (client.get, client.post):
        response = method(f"/ack/{token}")
        assert response.status_code == 410
        assert "This link has expired" in response.text
    assert snapshot(runtime) == before
    # The same token minted now is fine: only its age was wrong.
    fresh = make_link_token(runtime.settings.secret_key, alert_id, "ack", "alice")
    assert client.get(f"/ack/{fresh}").status_code == 200


def test_link_to_an_alert_that_does_not_exist_is_refused(client: TestClient, runtime: Runtime) -> None:
    page(runtime)
    before = snapshot(runtime)
    token = make_link_token(runtime.settings.secret_key, 999, "ack", "alice")
    response = client.post(f"/ack/{token}")
    assert response.status_code == 404
    assert "Alert 999 no longer exists" in response.text
    assert snapshot(runtime) == before


def test_openapi_documents_the_link_pages(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for method in ("get", "post"):
        operation = spec["paths"]["/ack/{token}"][method]
        assert operation["summary"]
        assert {"200", "400", "403", "404", "409", "410"} <= set(operation["responses"])
