"""Twilio webhooks over HTTP: SMS replies, voice keys, status callbacks, and signatures.

The rules are in docs/phone-and-email.md.

Requests are signed the way Twilio signs them (RequestValidator.compute_signature over PAGER_PUBLIC_URL
+ path + query and the form). Every refusal is checked against the database, not only the status.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import httpx
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import col, select
from twilio.request_validator import RequestValidator

from pager.adapters.delivery import DeliveryOutcome, DeliveryResult, Page
from pager.api.app import create_app
from pager.api.deps import get_now
from pager.core.sms_grammar import HELP_TEXT
from pager.db.session import session_scope
from pager.db.tables import Alert, HandledProviderRequest, OutboxMessage, TimelineEntry
from pager.services.alerting import alerts, catalog
from pager.services.delivery.claiming import Attempt, claim_pages
from pager.services.delivery.outcomes import record_outcomes
from pager.services.delivery.reconciliation import reconcile_uncertain
from pager.services.operations import housekeeping
from pager.services.people import users
from pager.services.phone import replies as phone
from pager.services.phone.replies import NOT_REGISTERED, open_alerts_text
from pager.services.runtime import Runtime
from pager.worker import tick
from tests import support
from tests.support import Clock

pytestmark = pytest.mark.database

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 09:00 America/Chicago: alice is on call
PUBLIC = "https://pager.example.com"
AUTH_TOKEN = "twilio-auth-token-for-tests"
SECRET_KEY = "test-secret-key-of-at-least-32-bytes"
SMS = {"alice": "+15550000001", "bob": "+15550000002", "carol": "+15550000003", "dana": "+15550000004"}
VOICE = {handle: "+1555100" + number[-4:] for handle, number in SMS.items()}

SCHEDULE = """\
    time_zone: America/Chicago
    layers:
      - name: weekly
        members: [alice, bob]
        start: 2026-01-05T09:00
        shift: 1w
    """
POLICY = """\
    levels:
      - notify: [schedule:team]
        escalate_after: 5m
      - notify: [user:carol]
        escalate_after: 10m
    services:
      - {id: checkout-api, name: Checkout API}
      - {id: db, name: Database}
    """


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    config_dir = support.write_config(tmp_path / "config", {"team": SCHEDULE}, {"main": POLICY})
    built = support.console_runtime(
        engine, config_dir, public_url=PUBLIC, twilio_auth_token=AUTH_TOKEN, secret_key=SECRET_KEY
    )
    with session_scope(engine) as session:
        for handle in SMS:
            users.add_user(
                session,
                handle=handle,
                name=handle.title(),
                now=T0,
                sms=SMS[handle],
                voice=VOICE[handle],
                email=f"{handle}@example.com",
            )
        catalog.sync_services(session, built.config, T0)
    return built


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def client(runtime: Runtime, clock: Clock) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = lambda: clock.now
    with TestClient(app) as test_client:
        yield test_client


def fixture(name: str, **changes: str) -> dict[str, str]:
    form: dict[str, str] = json.loads((FIXTURES / name).read_text())
    form.pop("_note")
    return form | changes


def signed_post(
    client: TestClient,
    path: str,
    form: dict[str, str],
    *,
    token: str = AUTH_TOKEN,
    signed_url: str | None = None,
    signed_form: dict[str, str] | None = None,
) -> Response:
    """POST `form` to `path` with the X-Twilio-Signature Twilio would send (or a deliberately bad one)."""
    url = signed_url if signed_url is not None else PUBLIC + path
    signature = RequestValidator(token).compute_signature(
        url, signed_form if signed_form is not None else form
    )
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def new_sid(prefix: str) -> str:
    """A Twilio-style id no other request used (each message Twilio delivers has its own)."""
    return prefix + uuid.uuid4().hex


def sms_form(handle_or_number: str, body: str, message_sid: str | None = None) -> dict[str, str]:
    """The form of a new inbound SMS (or of the message `message_sid` again)."""
    number = SMS.get(handle_or_number, handle_or_number)
    sid = message_sid or new_sid("SM")
    return fixture("twilio_inbound_sms.json", From=number, Body=body, MessageSid=sid, SmsSid=sid)


def sms_from(client: TestClient, handle_or_number: str, body: str) -> str:
    """Text `body` from a user's (or any) number; returns the text of the TwiML reply."""
    response = signed_post(client, "/twilio/sms", sms_form(handle_or_number, body))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(response.text)
    messages = [m.text for m in root.iter("Message")]
    assert len(messages) == 1
    return messages[0] or ""


def page(runtime: Runtime, key: str = "k", service: str = "checkout-api", at: datetime = T0) -> int:
    """Open an alert and let the worker page level 1 (alice by SMS and email; voice a minute later)."""
    alert_id = alerts.trigger_alert(
        runtime, service_id=service, summary="High error rate", now=at, dedup_key=key
    ).alert_id
    tick(runtime, at)
    return alert_id


def alert_row(runtime: Runtime, alert_id: int) -> Alert:
    with session_scope(runtime.engine, read_only=True) as session:
        row = session.get(Alert, alert_id)
        assert row is not None
        return row


def timeline(runtime: Runtime, alert_id: int) -> list[str]:
    with session_scope(runtime.engine, read_only=True) as session:
        query = (
            select(TimelineEntry).where(TimelineEntry.alert_id == alert_id).order_by(col(TimelineEntry.id))
        )
        return [f"{e.kind}: {e.message}" for e in session.exec(query)]


def snapshot(runtime: Runtime) -> dict[str, Any]:
    """Everything a refused request must leave alone: alerts, timelines, outbox."""
    with session_scope(runtime.engine, read_only=True) as session:
        return {
            "alerts": [row.model_dump() for row in session.exec(select(Alert).order_by(col(Alert.id)))],
            "timeline": [
                row.model_dump()
                for row in session.exec(select(TimelineEntry).order_by(col(TimelineEntry.id)))
            ],
            "outbox": [
                row.model_dump()
                for row in session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
            ],
        }


def outbox(runtime: Runtime, alert_id: int, method: str, user: str = "alice") -> OutboxMessage:
    with session_scope(runtime.engine, read_only=True) as session:
        query = select(OutboxMessage).where(
            OutboxMessage.alert_id == alert_id,
            OutboxMessage.method == method,
            col(OutboxMessage.idempotency_key).contains(f":{user}:"),
        )
        row = session.exec(query).first()
        assert row is not None
        return row


# --- SMS replies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "action"),
    [
        ("{id}a", "ack"),
        ("{id} a", "ack"),
        ("a {id}", "ack"),
        ("ACK {id}", "ack"),
        ("{id}r", "resolve"),
        ("res {id}", "resolve"),
        (" Resolve {id}. ", "resolve"),
        ("{id}e", "escalate"),
        ("esc {id}", "escalate"),
        ("escalate {id}!", "escalate"),
        ("a", "ack"),
        ("Ack", "ack"),
        ("4", "ack"),
        ("r", "resolve"),
        ("6", "resolve"),
        ("e", "escalate"),
        ("5", "escalate"),
    ],
)
def test_each_reply_form_acts_on_the_alert(
    client: TestClient, runtime: Runtime, clock: Clock, template: str, action: str
) -> None:
    alert_id = page(runtime)
    clock.now = T0 + timedelta(seconds=30)
    reply = sms_from(client, "alice", template.format(id=alert_id))
    row = alert_row(runtime, alert_id)
    if action == "ack":
        assert reply == f"Alert {alert_id} acknowledged."
        assert (row.status, row.acknowledged_by, row.acknowledged_at) == ("acknowledged", "alice", clock.now)
        assert outbox(runtime, alert_id, "voice").status == "cancelled"  # the 1-minute call never goes out
    elif action == "resolve":
        assert reply == f"Alert {alert_id} resolved."
        assert (row.status, row.resolved_by, row.resolved_at) == ("resolved", "alice", clock.now)
    else:
        assert reply == f"Alert {alert_id} escalated."
        assert (row.status, row.level) == ("triggered", 2)
        assert "escalated: escalated by alice" in timeline(runtime, alert_id)
        assert "level_paged: level 2 (loop 1) paged: carol" in timeline(runtime, alert_id)


def test_second_ack_is_answered_politely_and_changes_nothing(
    client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    alert_id = page(runtime)
    clock.now = T0 + timedelta(seconds=20)
    assert sms_from(client, "alice", f"{alert_id}a") == f"Alert {alert_id} acknowledged."
    clock.now = T0 + timedelta(seconds=40)
    assert sms_from(client, "alice", f"{alert_id}a") == f"Alert {alert_id} is already acknowledged by alice."
    row = alert_row(runtime, alert_id)
    assert (row.status, row.acknowledged_at) == ("acknowledged", T0 + timedelta(seconds=20))
    clock.now = T0 + timedelta(minutes=1)
    assert sms_from(client, "alice", f"{alert_id}r") == f"Alert {alert_id} resolved."
    assert sms_from(client, "alice", f"{alert_id}a") == f"Alert {alert_id} is already resolved by alice."
    assert alert_row(runtime, alert_id).status == "resolved"


def test_bare_reply_lists_the_open_alerts_when_there_are_several(
    client: TestClient, runtime: Runtime
) -> None:
    first = page(runtime, key="one")
    second = page(runtime, key="two", service="db")
    before = snapshot(runtime)
    reply = sms_from(client, "alice", "a")
    assert reply == f"Open alerts: {first} checkout-api, {second} db. Reply {first}a to ack."
    assert snapshot(runtime) == before
    assert sms_from(client, "alice", f"{second}a") == f"Alert {second} acknowledged."
    # The acknowledged one is still open, so a bare reply still has two to choose from.
    assert sms_from(client, "alice", "6").startswith("Open alerts: ")
    assert alert_row(runtime, first).status == "triggered"


def test_a_long_list_of_open_alerts_is_cut_to_one_sms() -> None:
    many = [Alert(id=1000 + n, service_id=f"service-{n}", dedup_key="k", summary="s") for n in range(30)]
    text = open_alerts_text(many)
    assert len(text) <= 160
    assert text.startswith("Open alerts: 1000 service-0, 1001 service-1, ")
    shown = text.count("service-")
    assert text.endswith(f" and {30 - shown} more. Reply 1000a to ack.")


def test_bare_reply_with_nothing_open_says_so(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    assert sms_from(client, "alice", f"{alert_id}r") == f"Alert {alert_id} resolved."
    before = snapshot(runtime)
    assert sms_from(client, "alice", "a") == "You have no open alerts."
    assert snapshot(runtime) == before


def test_a_sender_who_was_not_paged_is_refused_and_nothing_changes(
    client: TestClient, runtime: Runtime
) -> None:
    alert_id = page(runtime)  # alice is on call; carol is level 2, not paged yet
    before = snapshot(runtime)
    for text in (f"{alert_id}a", f"{alert_id}r", f"esc {alert_id}"):
        assert sms_from(client, "carol", text) == f"You were not paged for alert {alert_id}."
    assert sms_from(client, "carol", "a") == "You have no open alerts."
    assert sms_from(client, "alice", "999a") == "You were not paged for alert 999."  # no such alert
    assert sms_from(client, "+15559999999", f"{alert_id}a") == NOT_REGISTERED
    assert snapshot(runtime) == before


def test_unknown_text_gets_help_and_changes_nothing(client: TestClient, runtime: Runtime) -> None:
    page(runtime)
    before = snapshot(runtime)
    for text in ("hello", "42x", "ack ack", "", "👍"):
        assert sms_from(client, "alice", text) == HELP_TEXT
    assert snapshot(runtime) == before


# --- signatures ----------------------------------------------------------------------------------


def assert_forbidden(response: Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"


def test_unsigned_post_is_refused_and_nothing_changes(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    before = snapshot(runtime)
    form = fixture("twilio_inbound_sms.json", From=SMS["alice"], Body=f"{alert_id}a")
    assert_forbidden(client.post("/twilio/sms", data=form))
    assert_forbidden(client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": ""}))
    assert snapshot(runtime) == before
    assert alert_row(runtime, alert_id).status == "triggered"


def test_wrongly_signed_posts_are_refused_and_nothing_changes(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    before = snapshot(runtime)
    form = fixture("twilio_inbound_sms.json", From=SMS["alice"], Body=f"{alert_id}r")
    # Another account's token.
    assert_forbidden(signed_post(client, "/twilio/sms", form, token="someone-elses-token"))
    # A genuine signature for another URL: another endpoint, or the host the proxy forwarded to.
    assert_forbidden(signed_post(client, "/twilio/sms", form, signed_url=f"{PUBLIC}/twilio/voice"))
    assert_forbidden(signed_post(client, "/twilio/sms", form, signed_url="http://testserver/twilio/sms"))
    # A genuine signature for a different message: the body was changed on the way.
    assert_forbidden(signed_post(client, "/twilio/sms", form, signed_form=form | {"Body": "hello"}))
    # Status callbacks and voice are checked the same way.
    sms = outbox(runtime, alert_id, "sms")
    status = fixture("twilio_status_callback.json", MessageSid=sms.provider_id or "")
    assert_forbidden(client.post("/twilio/status", data=status))
    gather = fixture("twilio_voice_gather.json", To=VOICE["alice"])
    assert_forbidden(client.post(f"/twilio/voice/gather?alert={alert_id}", data=gather))
    assert_forbidden(
        signed_post(
            client,
            f"/twilio/voice/gather?alert={alert_id}",
            gather,
            signed_url=f"{PUBLIC}/twilio/voice/gather?alert={alert_id + 1}",
        )
    )
    assert snapshot(runtime) == before


def test_webhooks_are_refused_when_no_auth_token_is_configured(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    before = snapshot(runtime)
    runtime.settings.twilio_auth_token = None
    form = fixture("twilio_inbound_sms.json", From=SMS["alice"], Body=f"{alert_id}a")
    assert_forbidden(signed_post(client, "/twilio/sms", form))
    assert snapshot(runtime) == before


# --- voice ---------------------------------------------------------------------------------------


def voice_post(client: TestClient, path: str, handle: str, digits: str | None = None) -> ElementTree.Element:
    form = fixture("twilio_voice_gather.json", To=VOICE[handle])
    if digits is None:
        form.pop("Digits")
    else:
        form["Digits"] = digits
    response = signed_post(client, path, form)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return ElementTree.fromstring(response.text)


def said(twiml: ElementTree.Element) -> list[str]:
    return [say.text or "" for say in twiml.iter("Say")]


def test_answered_call_says_the_alert_and_gathers_one_key(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    tick(runtime, T0 + timedelta(minutes=1))  # the voice step
    twiml = voice_post(client, f"/twilio/voice?alert={alert_id}", "alice")
    gather = twiml.find("Gather")
    assert gather is not None
    assert gather.get("numDigits") == "1"
    assert gather.get("action") == f"{PUBLIC}/twilio/voice/gather?alert={alert_id}&attempt=1"
    assert said(twiml)[0] == f"Pager alert {alert_id} for Checkout API. High error rate."
    assert "Press 4 to acknowledge, 6 to resolve, 5 to escalate, 7 to snooze for 30 minutes." in said(twiml)


@pytest.mark.parametrize(
    ("digit", "status", "reply"),
    [("4", "acknowledged", "acknowledged"), ("6", "resolved", "resolved"), ("5", "triggered", "escalated")],
)
def test_keys_4_6_5_act_on_the_alert(
    client: TestClient, runtime: Runtime, clock: Clock, digit: str, status: str, reply: str
) -> None:
    alert_id = page(runtime)
    clock.now = T0 + timedelta(minutes=1)
    tick(runtime, clock.now)
    twiml = voice_post(client, f"/twilio/voice/gather?alert={alert_id}", "alice", digit)
    assert said(twiml) == [f"Alert {alert_id} {reply}. Goodbye."]
    assert twiml.find("Hangup") is not None
    row = alert_row(runtime, alert_id)
    assert row.status == status
    if digit == "5":
        assert row.level == 2
    else:
        assert "alice" in (row.acknowledged_by, row.resolved_by)


def test_any_other_key_repeats_the_prompt_then_hangs_up(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    before = snapshot(runtime)
    twiml = voice_post(client, f"/twilio/voice/gather?alert={alert_id}", "alice", "9")
    gather = twiml.find("Gather")
    assert gather is not None
    assert gather.get("action") == f"{PUBLIC}/twilio/voice/gather?alert={alert_id}&attempt=2"
    twiml = voice_post(client, f"/twilio/voice/gather?alert={alert_id}&attempt=2", "alice", None)
    assert twiml.find("Gather") is not None
    twiml = voice_post(client, f"/twilio/voice/gather?alert={alert_id}&attempt=3", "alice", "#")
    assert (twiml.find("Gather"), said(twiml)) == (None, ["No key pressed. Goodbye."])
    assert snapshot(runtime) == before


def test_a_callee_who_was_not_paged_cannot_act_by_voice(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    before = snapshot(runtime)
    for path, digits in (
        (f"/twilio/voice?alert={alert_id}", None),
        (f"/twilio/voice/gather?alert={alert_id}", "4"),
    ):
        twiml = voice_post(client, path, "carol", digits)
        assert said(twiml) == [f"You were not paged for alert {alert_id}. Goodbye."]
        assert twiml.find("Gather") is None
    assert snapshot(runtime) == before
    assert alert_row(runtime, alert_id).status == "triggered"


# --- status callbacks ------------------------------------------------------------------------------


def status_post(client: TestClient, **changes: str) -> dict[str, Any]:
    response = signed_post(client, "/twilio/status", fixture("twilio_status_callback.json", **changes))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_delivered_callback_marks_the_page_delivered(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    sms = outbox(runtime, alert_id, "sms")
    assert sms.status == "sent" and sms.provider_id
    assert status_post(client, MessageSid=sms.provider_id, MessageStatus="sent") == {
        "outcome": "progress",
        "alert_id": alert_id,
    }
    assert outbox(runtime, alert_id, "sms").status == "sent"
    body = status_post(client, MessageSid=sms.provider_id, MessageStatus="delivered", ErrorCode="")
    assert body == {"outcome": "delivered", "alert_id": alert_id}
    assert outbox(runtime, alert_id, "sms").status == "delivered"
    assert f"page_delivered: sms to alice delivered ({sms.provider_id})" in timeline(runtime, alert_id)


def test_failed_callback_marks_the_page_failed_and_falls_back_at_once(
    client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    alert_id = page(runtime)
    sms = outbox(runtime, alert_id, "sms")
    assert outbox(runtime, alert_id, "voice").due_at == T0 + timedelta(minutes=1)
    clock.now = T0 + timedelta(seconds=10)
    body = status_post(client, MessageSid=sms.provider_id or "")  # the fixture: undelivered, 30003
    assert body == {"outcome": "failed", "alert_id": alert_id}
    failed = outbox(runtime, alert_id, "sms")
    assert (failed.status, failed.last_error) == ("failed", "undelivered (Twilio error 30003)")
    voice = outbox(runtime, alert_id, "voice")
    assert (voice.status, voice.due_at) == ("pending", clock.now)  # brought forward from T0 + 1m
    lines = timeline(runtime, alert_id)
    assert "page_failed: sms to alice failed: undelivered (Twilio error 30003)" in lines
    assert any(line.startswith("delivery_failed:") and "falling back to voice now" in line for line in lines)
    # Twilio may post the same outcome twice: the second changes nothing.
    before = snapshot(runtime)
    assert status_post(client, MessageSid=sms.provider_id or "")["outcome"] == "already_final"
    assert snapshot(runtime) == before


def test_call_callbacks_use_call_statuses(client: TestClient, runtime: Runtime, clock: Clock) -> None:
    alert_id = page(runtime)
    clock.now = T0 + timedelta(minutes=1)
    tick(runtime, clock.now)
    call = outbox(runtime, alert_id, "voice")
    assert call.status == "sent"
    form = fixture("twilio_voice_gather.json", CallSid=call.provider_id or "", CallStatus="no-answer")
    response = signed_post(client, "/twilio/status", form)
    assert response.json() == {"outcome": "failed", "alert_id": alert_id}
    assert outbox(runtime, alert_id, "voice").last_error == "no-answer"
    assert any(
        line.startswith("page_failed: voice to alice failed: no-answer")
        for line in timeline(runtime, alert_id)
    )


def test_callback_for_an_unknown_page_changes_nothing(client: TestClient, runtime: Runtime) -> None:
    page(runtime)
    before = snapshot(runtime)
    assert status_post(client, MessageSid="SM" + "f" * 32) == {"outcome": "unknown_page", "alert_id": None}
    assert snapshot(runtime) == before


def claim_page(runtime: Runtime, at: datetime) -> list[Attempt]:
    """The worker's claim without the send: the pages are `sending`, their outcome not yet recorded."""
    attempts, _held = claim_pages(runtime, at, 32)
    return attempts


def test_a_failure_report_that_comes_before_the_send_is_recorded_still_falls_back(
    client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    """Twilio may call back before the worker has written the message's sid on the page: the
    callback URL names the page, so the report finds it, and the worker's late record keeps it."""
    alert_id = alerts.trigger_alert(
        runtime, service_id="checkout-api", summary="High error rate", now=T0, dedup_key="k"
    ).alert_id
    sms = next(a for a in claim_page(runtime, T0) if a.page.method == "sms")
    assert outbox(runtime, alert_id, "sms").status == "sending"
    sid = "SM" + "a" * 32
    clock.now = T0 + timedelta(seconds=1)
    path = f"/twilio/status?{urlencode({'page': sms.page.idempotency_key})}"
    form = fixture("twilio_status_callback.json", MessageSid=sid)  # undelivered, 30003
    response = signed_post(client, path, form)
    assert response.json() == {"outcome": "failed", "alert_id": alert_id}
    failed = outbox(runtime, alert_id, "sms")
    assert (failed.status, failed.provider_id) == ("failed", sid)
    assert outbox(runtime, alert_id, "voice").due_at == clock.now  # fell back at once
    # The worker now records the send it made: the report's outcome stands.
    record_outcomes(runtime, clock.now, [(sms, DeliveryResult(DeliveryOutcome.SENT, provider_id=sid))])
    kept = outbox(runtime, alert_id, "sms")
    assert (kept.status, kept.provider_id, kept.last_error) == ("failed", sid, failed.last_error)
    lines = timeline(runtime, alert_id)
    assert "page_failed: sms to alice failed: undelivered (Twilio error 30003)" in lines
    assert f"page_sent: sms to alice sent ({sid}); its delivery report came first: failed" in lines


def test_a_failure_report_that_comes_while_an_unknown_send_is_reconciled_still_falls_back(
    client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    """The create timed out (outcome unknown), so the worker asks Twilio whether it has the message;
    Twilio's failure report arrives meanwhile. Reconcile finds the message, but the report stands."""
    alert_id = alerts.trigger_alert(
        runtime, service_id="checkout-api", summary="High error rate", now=T0, dedup_key="k"
    ).alert_id
    sms = next(a for a in claim_page(runtime, T0) if a.page.method == "sms")
    record_outcomes(runtime, T0, [(sms, DeliveryResult(DeliveryOutcome.UNKNOWN, error="read timed out"))])
    assert outbox(runtime, alert_id, "sms").status == "unknown"
    sid = "SM" + "d" * 32
    path = f"/twilio/status?{urlencode({'page': sms.page.idempotency_key})}"
    reports: list[dict[str, Any]] = []

    class ReportedWhileAsked:
        method = "sms"

        def send(self, page: Page) -> DeliveryResult:
            raise AssertionError("a page Twilio has must not be sent again")

        def reconcile(self, page: Page, attempted_at: datetime) -> str | None:
            form = fixture("twilio_status_callback.json", MessageSid=sid)  # undelivered, 30003
            reports.append(signed_post(client, path, form).json())
            return sid  # Twilio has the message

    runtime.notifiers["sms"] = ReportedWhileAsked()
    clock.now = T0 + timedelta(seconds=1)
    assert reconcile_uncertain(runtime, clock.now) == 1
    assert reports == [{"outcome": "failed", "alert_id": alert_id}]
    row = outbox(runtime, alert_id, "sms")
    assert (row.status, row.provider_id) == ("failed", sid)
    assert outbox(runtime, alert_id, "voice").due_at == clock.now  # fell back at once
    assert "page_reconciled: sms to alice: its delivery report came first: failed" in timeline(
        runtime, alert_id
    )


def test_a_report_naming_a_page_that_has_another_sid_is_about_an_old_attempt(
    client: TestClient, runtime: Runtime
) -> None:
    alert_id = page(runtime)
    sms = outbox(runtime, alert_id, "sms")
    assert sms.status == "sent" and sms.provider_id
    before = snapshot(runtime)
    path = f"/twilio/status?{urlencode({'page': sms.idempotency_key})}"
    response = signed_post(client, path, fixture("twilio_status_callback.json", MessageSid="SM" + "b" * 32))
    assert response.json() == {"outcome": "unknown_page", "alert_id": None}
    assert snapshot(runtime) == before


def test_a_report_signed_for_another_page_is_refused(client: TestClient, runtime: Runtime) -> None:
    """The page named in the URL is part of what Twilio signs: it cannot be swapped for another."""
    alert_id = alerts.trigger_alert(
        runtime, service_id="checkout-api", summary="High error rate", now=T0, dedup_key="k"
    ).alert_id
    sms = next(a for a in claim_page(runtime, T0) if a.page.method == "sms")
    before = snapshot(runtime)
    form = fixture("twilio_status_callback.json", MessageSid="SM" + "c" * 32)
    signed_for = PUBLIC + "/twilio/status?" + urlencode({"page": "some-other-page"})
    path = f"/twilio/status?{urlencode({'page': sms.page.idempotency_key})}"
    assert signed_post(client, path, form, signed_url=signed_for).status_code == 403
    assert snapshot(runtime) == before
    assert outbox(runtime, alert_id, "sms").status == "sending"


def test_openapi_documents_the_form_bodies_and_refusals(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/twilio/sms", "/twilio/voice", "/twilio/voice/gather", "/twilio/status"):
        operation = spec["paths"][path]["post"]
        assert operation["summary"]
        assert "application/x-www-form-urlencoded" in operation["requestBody"]["content"]
        assert {"200", "403", "422"} <= set(operation["responses"])


# --- replays -------------------------------------------------------------------------------------


def twiml_messages(response: Response) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return [m.text or "" for m in ElementTree.fromstring(response.text).iter("Message")]


def escalations(runtime: Runtime, alert_id: int) -> list[str]:
    return [line for line in timeline(runtime, alert_id) if line.startswith("escalated:")]


def test_a_replayed_sms_acts_once(client: TestClient, runtime: Runtime, clock: Clock) -> None:
    """The same signed `esc <id>` posted three times (Twilio retrying, or someone replaying it)."""
    alert_id = page(runtime)
    clock.now = T0 + timedelta(seconds=30)
    form = sms_form("alice", f"esc {alert_id}")
    first = signed_post(client, "/twilio/sms", form)
    assert twiml_messages(first) == [f"Alert {alert_id} escalated."]
    after_first = snapshot(runtime)
    assert alert_row(runtime, alert_id).level == 2
    for seconds in (31, 95):
        clock.now = T0 + timedelta(seconds=seconds)
        assert twiml_messages(signed_post(client, "/twilio/sms", form)) == []  # no second reply
    assert escalations(runtime, alert_id) == ["escalated: escalated by alice"]
    assert snapshot(runtime) == after_first
    # Another message saying the same is not a replay: it is answered and acted on.
    assert sms_from(client, "alice", f"{alert_id}a") == f"Alert {alert_id} acknowledged."


def test_a_replayed_key_press_acts_once(client: TestClient, runtime: Runtime, clock: Clock) -> None:
    alert_id = page(runtime)
    clock.now = T0 + timedelta(minutes=1)
    tick(runtime, clock.now)
    path = f"/twilio/voice/gather?alert={alert_id}"
    assert said(voice_post(client, path, "alice", "5")) == [f"Alert {alert_id} escalated. Goodbye."]
    after_first = snapshot(runtime)
    clock.now = T0 + timedelta(minutes=2)
    replayed = voice_post(client, path, "alice", "5")
    assert (said(replayed), replayed.find("Hangup") is not None) == ([phone.ALREADY_HANDLED], True)
    # An acting key is one per call: another key posted for the same call is a replay as well.
    assert said(voice_post(client, path, "alice", "4")) == [phone.ALREADY_HANDLED]
    assert escalations(runtime, alert_id) == ["escalated: escalated by alice"]
    assert snapshot(runtime) == after_first


def test_keys_that_do_not_act_can_be_pressed_again_on_the_same_call(
    client: TestClient, runtime: Runtime
) -> None:
    alert_id = page(runtime)
    for attempt in (1, 2):
        twiml = voice_post(client, f"/twilio/voice/gather?alert={alert_id}&attempt={attempt}", "alice", "9")
        assert twiml.find("Gather") is not None
    twiml = voice_post(client, f"/twilio/voice/gather?alert={alert_id}&attempt=3", "alice", "4")
    assert said(twiml) == [f"Alert {alert_id} acknowledged. Goodbye."]


def test_copies_of_one_message_arriving_at_once_act_once(runtime: Runtime) -> None:
    """The claim and the action share a transaction: of concurrent copies, exactly one acts."""
    alert_id = page(runtime)
    now = T0 + timedelta(seconds=30)
    sid = new_sid("SM")
    start = threading.Barrier(4)

    def deliver() -> str | None:
        start.wait(timeout=10)
        return phone.handle_sms(runtime, SMS["alice"], f"esc {alert_id}", now, message_sid=sid)

    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda _: deliver(), range(4)))
    assert sorted(replies, key=str) == [f"Alert {alert_id} escalated.", None, None, None]
    assert escalations(runtime, alert_id) == ["escalated: escalated by alice"]


def test_handled_message_ids_are_forgotten_after_the_retention(runtime: Runtime) -> None:
    alert_id = page(runtime)
    sid = new_sid("SM")
    assert (
        phone.handle_sms(runtime, SMS["alice"], "a", T0, message_sid=sid) == f"Alert {alert_id} acknowledged."
    )
    assert phone.handle_sms(runtime, SMS["alice"], "a", T0 + timedelta(days=29), message_sid=sid) is None
    other = new_sid("SM")
    phone.handle_sms(runtime, SMS["alice"], "a", T0 + timedelta(days=1), message_sid=other)
    # The worker's housekeeping job forgets what is older than the retention.
    assert housekeeping.prune_expired(runtime.engine, T0 + housekeeping.REPLAY_KEY_RETENTION) == 0
    later = T0 + housekeeping.REPLAY_KEY_RETENTION + timedelta(seconds=1)
    assert housekeeping.prune_expired(runtime.engine, later) == 1
    with session_scope(runtime.engine, read_only=True) as session:
        keys = [row.request_key for row in session.exec(select(HandledProviderRequest))]
    assert keys == [f"sms:{other}"]
    # A replay after the retention acts like a new request.
    assert phone.handle_sms(runtime, SMS["alice"], "a", later, message_sid=sid) is not None


def test_an_sms_without_a_message_sid_is_refused(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    before = snapshot(runtime)
    form = sms_form("alice", f"{alert_id}a")
    del form["MessageSid"], form["SmsSid"]
    response = signed_post(client, "/twilio/sms", form)
    assert response.status_code == 422 and "MessageSid" in response.json()["error"]["message"]
    assert snapshot(runtime) == before


def test_a_replayed_delivery_report_changes_nothing(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    sms = outbox(runtime, alert_id, "sms")
    delivered = {"MessageSid": sms.provider_id or "", "MessageStatus": "delivered", "ErrorCode": ""}
    assert status_post(client, **delivered)["outcome"] == "delivered"
    before = snapshot(runtime)
    assert status_post(client, **delivered)["outcome"] == "already_final"
    assert (
        status_post(client, MessageSid=sms.provider_id or "")["outcome"] == "already_final"
    )  # a late failure
    assert snapshot(runtime) == before


# --- bad signatures: per-address limit -------------------------------------------------------------


def test_an_address_sending_bad_signatures_is_refused_before_its_body_is_read(
    client: TestClient, runtime: Runtime
) -> None:
    alert_id = page(runtime)
    app = client.app
    form = sms_form("alice", f"{alert_id}a")
    good = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/twilio/sms", form)

    async def scenario() -> list[tuple[int, str]]:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://pager.test") as forger:
            answers = []
            for n in range(21):
                signature = {"X-Twilio-Signature": f"forged-{n}"} if n % 2 else {}
                response = await forger.post("/twilio/sms", data=form, headers=signature)
                answers.append((response.status_code, response.headers.get("retry-after", "")))
            # Blocked, a correctly signed request from that address waits too: nothing was read.
            signed = await forger.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": good})
            answers.append((signed.status_code, signed.json()["error"]["code"]))
            return answers

    answers = asyncio.run(scenario())
    assert [status for status, _ in answers[:20]] == [403] * 20
    assert answers[20][0] == 429 and 1 <= int(answers[20][1]) <= 60
    assert answers[21] == (429, "throttled")
    assert alert_row(runtime, alert_id).status == "triggered"
    # Twilio's own requests come from other addresses: answered as ever.
    assert sms_from(client, "alice", f"{alert_id}a") == f"Alert {alert_id} acknowledged."


def test_openapi_documents_the_429(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/twilio/sms", "/twilio/voice", "/twilio/voice/gather", "/twilio/status"):
        assert "429" in spec["paths"][path]["post"]["responses"]
