"""The demo in process: the printed curl's event opens a new alert each run, and the console's phone
panel (/demo/phone) shows each demo person's SMS pages and sends replies through the signed
/twilio/sms route (only in demo mode; replying needs the responder role)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from pager.api.app import create_app
from pager.api.deps import get_now
from pager.commands.demo import demo_event, demo_twilio_settings
from pager.db.session import session_scope
from pager.db.tables import Alert
from pager.services.demo import seed_demo
from pager.services.people.tokens import create_api_token
from pager.services.runtime import Runtime
from pager.worker import tick
from tests import support
from tests.support import Clock

pytestmark = pytest.mark.database

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # bob is checkout's primary


def make_runtime(engine: Engine, *, demo: bool) -> Runtime:
    runtime = support.console_runtime(engine, REPO, public_url="http://demo.example")
    runtime.settings = demo_twilio_settings(runtime.settings)
    runtime.demo = demo
    return runtime


@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    return make_runtime(engine, demo=True)


def client_for(runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = Clock(NOW)
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    yield from client_for(runtime)


def log_in(client: TestClient, runtime: Runtime, role: str) -> str:
    """Log in with a new `role` token; the session's CSRF token."""
    with session_scope(runtime.engine) as session:
        _, plaintext = create_api_token(session, role=role, name=role, now=NOW)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert csrf is not None
    answer = client.post("/login/token", data={"csrf": csrf.group(1), "token": plaintext, "next": "/"})
    assert answer.status_code == 303, answer.text
    fresh = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)  # the session's new one
    assert fresh is not None
    return fresh.group(1)


def checkout_key(runtime: Runtime) -> str:
    keys = dict(seed_demo(runtime, NOW).services)
    return keys["checkout-api"]


def alert_ids(runtime: Runtime) -> list[int]:
    with session_scope(runtime.engine, read_only=True) as session:
        return sorted(a.id for a in session.exec(select(Alert)) if a.id is not None)


def test_the_printed_event_opens_a_new_alert_each_time(client: TestClient, runtime: Runtime) -> None:
    event = demo_event(checkout_key(runtime))
    first = client.post("/v2/enqueue", json=event)
    second = client.post("/v2/enqueue", json=event)
    assert first.status_code == second.status_code == 202, first.text
    assert first.json()["dedup_key"] != second.json()["dedup_key"]
    assert len(alert_ids(runtime)) == 2


def test_a_reply_on_the_phone_panel_acks_through_the_signed_sms_route(
    client: TestClient, runtime: Runtime
) -> None:
    assert client.post("/v2/enqueue", json=demo_event(checkout_key(runtime))).status_code == 202
    [alert_id] = alert_ids(runtime)
    tick(runtime, NOW)  # bob's SMS page is queued and sent to the console
    csrf = log_in(client, runtime, "responder")
    assert '<a href="/demo/phone">Demo phone</a>' in client.get("/").text
    panel = client.get("/demo/phone")
    assert panel.status_code == 200
    assert f"Reply {alert_id}a ack" in panel.text and "Checkout error rate above 5%" in panel.text
    message = re.search(
        r'name="handle" value="bob">\s*<input type="hidden" name="message" value="(\d+)"', panel.text
    )
    assert message is not None, panel.text

    answer = client.post(
        "/demo/phone/reply",
        data={"csrf": csrf, "handle": "bob", "message": message.group(1), "text": f"{alert_id}a"},
    )
    assert answer.status_code == 200, answer.text
    assert f"Alert {alert_id} acknowledged" in answer.text
    with session_scope(runtime.engine, read_only=True) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None and alert.status == "acknowledged"


def test_someone_elses_message_is_404_and_nothing_changes(client: TestClient, runtime: Runtime) -> None:
    assert client.post("/v2/enqueue", json=demo_event(checkout_key(runtime))).status_code == 202
    tick(runtime, NOW)
    csrf = log_in(client, runtime, "admin")
    panel = client.get("/demo/phone").text
    message = re.search(
        r'name="handle" value="bob">\s*<input type="hidden" name="message" value="(\d+)"', panel
    )
    assert message is not None
    answer = client.post(
        "/demo/phone/reply", data={"csrf": csrf, "handle": "alice", "message": message.group(1), "text": "1a"}
    )
    assert answer.status_code == 404 and "no SMS page" in answer.text
    with session_scope(runtime.engine, read_only=True) as session:
        assert [a.status for a in session.exec(select(Alert))] == ["triggered"]


def test_a_viewer_sees_no_reply_form_and_a_forged_post_is_403(client: TestClient, runtime: Runtime) -> None:
    assert client.post("/v2/enqueue", json=demo_event(checkout_key(runtime))).status_code == 202
    tick(runtime, NOW)
    csrf = log_in(client, runtime, "viewer")
    panel = client.get("/demo/phone")
    assert panel.status_code == 200 and "Reply 1a ack" in panel.text
    assert "Send reply" not in panel.text
    forged = client.post(
        "/demo/phone/reply", data={"csrf": csrf, "handle": "bob", "message": "1", "text": "1a"}
    )
    assert forged.status_code == 403
    no_csrf = client.post("/demo/phone/reply", data={"handle": "bob", "message": "1", "text": "1a"})
    assert no_csrf.status_code == 403
    with session_scope(runtime.engine, read_only=True) as session:
        assert [a.status for a in session.exec(select(Alert))] == ["triggered"]


def test_outside_the_demo_the_phone_is_404_and_not_linked(engine: Engine) -> None:
    runtime = make_runtime(engine, demo=False)
    seed_demo(runtime, NOW)
    for client in client_for(runtime):
        csrf = log_in(client, runtime, "admin")
        assert "/demo/phone" not in client.get("/").text
        assert client.get("/demo/phone").status_code == 404
        reply = client.post(
            "/demo/phone/reply", data={"csrf": csrf, "handle": "bob", "message": "1", "text": "a"}
        )
        assert reply.status_code == 404
