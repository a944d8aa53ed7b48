"""Twilio SMS and voice notifiers, driven through the real `twilio` SDK against the in-repo fake Twilio."""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from twilio.base.exceptions import TwilioException

from pager.adapters.delivery import DeliveryOutcome, Method, Page
from pager.adapters.twilio_client import make_client
from pager.adapters.twilio_sms import CLOCK_SLACK, TwilioSmsNotifier
from pager.adapters.twilio_voice import KEYS_PROMPT, TwilioVoiceNotifier, page_twiml
from pager.services.delivery.pump import SENDERS
from pager.testing.fake_twilio import FakeTwilio, Fault, FaultKind

ACCOUNT_SID = "AC00000000000000000000000000000000"
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
FROM = "+15005550006"
ALICE = "+13125550101"
BOB = "+13125550102"
PUBLIC_URL = "https://pager.example.org"
STATUS_URL = f"{PUBLIC_URL}/twilio/status"
BODY = "ALERT 42 checkout-api: High error rate. Reply 42a ack, 42r resolve, 42e escalate"
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

Notifier = TwilioSmsNotifier | TwilioVoiceNotifier


class Clock:
    """The fake provider's clock, moved by hand: the times the API reports, not the wall."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, clock=clock) as running:
        yield running


def sms_notifier(
    base_url: str, timeout: float = 5.0, status_callback: str | None = STATUS_URL
) -> TwilioSmsNotifier:
    client = make_client(ACCOUNT_SID, AUTH_TOKEN, api_base=base_url, timeout=timeout)
    return TwilioSmsNotifier(client, FROM, status_callback)


def voice_notifier(base_url: str, timeout: float = 5.0, public_url: str = PUBLIC_URL) -> TwilioVoiceNotifier:
    client = make_client(ACCOUNT_SID, AUTH_TOKEN, api_base=base_url, timeout=timeout)
    return TwilioVoiceNotifier(client, FROM, public_url)


NOTIFIERS: dict[str, Callable[..., Notifier]] = {"sms": sms_notifier, "voice": voice_notifier}


def page(method: Method = "sms", body: str = BODY, to: str = ALICE, alert_id: int = 42) -> Page:
    key = f"{alert_id}:c1:l1:v1:alice:{method}:0"
    return Page(idempotency_key=key, alert_id=alert_id, method=method, address=to, body=body)


def created(fake: FakeTwilio, method: Method) -> list[dict[str, Any]]:
    return fake.messages if method == "sms" else fake.calls


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- SMS -----------------------------------------------------------------------------------------------


def test_sms_is_sent_with_exact_body_from_and_status_callback(fake: FakeTwilio) -> None:
    result = sms_notifier(fake.base_url).send(page())

    [stored] = fake.messages
    assert result.outcome is DeliveryOutcome.SENT
    assert result.provider_id == stored["sid"]
    assert re.fullmatch(r"SM[0-9a-f]{32}", stored["sid"])
    assert (result.error, result.error_code) == (None, None)
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    # The callback URL names the page (its key, URL-encoded), so an early report still finds it.
    callback = f"{STATUS_URL}?page=42%3Ac1%3Al1%3Av1%3Aalice%3Asms%3A0"
    assert request.form == {"To": ALICE, "From": FROM, "Body": BODY, "StatusCallback": callback}
    assert (stored["to"], stored["from"], stored["body"]) == (ALICE, FROM, BODY)


def test_sms_without_a_status_callback_sends_none(fake: FakeTwilio) -> None:
    result = sms_notifier(fake.base_url, status_callback=None).send(page())
    assert result.outcome is DeliveryOutcome.SENT
    [request] = fake.requests
    assert "StatusCallback" not in request.form


# -- voice ---------------------------------------------------------------------------------------------


def test_voice_call_speaks_the_body_and_gathers_one_digit(fake: FakeTwilio) -> None:
    # A trailing slash on the public URL must not double up in the callback URLs.
    result = voice_notifier(fake.base_url, public_url=PUBLIC_URL + "/").send(page("voice"))

    [stored] = fake.calls
    assert result.outcome is DeliveryOutcome.SENT
    assert result.provider_id == stored["sid"]
    assert re.fullmatch(r"CA[0-9a-f]{32}", stored["sid"])
    [request] = fake.requests
    assert (request.method, request.path) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json")
    assert (request.form["To"], request.form["From"]) == (ALICE, FROM)
    assert request.form["StatusCallback"] == f"{STATUS_URL}?page=42%3Ac1%3Al1%3Av1%3Aalice%3Avoice%3A0"
    assert "Url" not in request.form

    gather_url = f"{PUBLIC_URL}/twilio/voice/gather?alert=42"
    response = ET.fromstring(request.form["Twiml"])
    assert response.tag == "Response"
    [gather] = response.findall("Gather")
    assert gather.get("numDigits") == "1"
    assert gather.get("action") == gather_url
    assert gather.get("method") == "POST"
    assert [say.text for say in gather.findall("Say")] == [BODY, KEYS_PROMPT]
    # No key pressed: Twilio falls through to the redirect, and the gather handler repeats the page.
    [redirect] = response.findall("Redirect")
    assert (redirect.text, redirect.get("method")) == (gather_url, "POST")


def test_page_twiml_is_xml_even_with_markup_in_the_summary() -> None:
    summary = 'Disk < 5% & "falling" on db-1 </Say><Hangup/>'
    gather_url = "https://pager.example.org/twilio/voice/gather?alert=7&lang=en"

    response = ET.fromstring(page_twiml(summary, gather_url))

    assert response.find("Hangup") is None
    [gather] = response.findall("Gather")
    assert gather.get("action") == gather_url
    assert gather.get("numDigits") == "1"
    assert [say.text for say in gather.findall("Say")] == [summary, KEYS_PROMPT]
    assert [child.tag for child in response] == ["Gather", "Redirect"]


# -- provider errors (both methods) --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sms", "voice"])
@pytest.mark.parametrize(
    ("kind", "outcome", "status", "code"),
    [
        ("server_error", DeliveryOutcome.TRANSIENT, 500, 20500),
        ("rate_limited", DeliveryOutcome.TRANSIENT, 429, 20429),
        ("invalid_to", DeliveryOutcome.PERMANENT, 400, 21211),
    ],
)
def test_provider_errors_are_classified(
    fake: FakeTwilio, method: Method, kind: FaultKind, outcome: DeliveryOutcome, status: int, code: int
) -> None:
    fake.fail_to(ALICE, Fault(kind), count=1)

    result = NOTIFIERS[method](fake.base_url).send(page(method))

    assert (result.outcome, result.error_code, result.provider_id) == (outcome, code, None)
    assert result.error is not None and f"twilio {status}" in result.error
    assert created(fake, method) == []
    assert len(fake.requests) == 1  # classified, not retried behind the caller's back


@pytest.mark.parametrize("method", ["sms", "voice"])
def test_refused_connection_is_transient(method: Method) -> None:
    result = NOTIFIERS[method](closed_port_url()).send(page(method))

    assert result.outcome is DeliveryOutcome.TRANSIENT
    assert result.provider_id is None
    assert result.error is not None and "refused" in result.error


# -- unknown outcomes and reconciliation ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["sms", "voice"])
@pytest.mark.parametrize(
    ("kind", "record"), [("hang", True), ("hang", False), ("drop", True), ("drop", False)]
)
def test_uncertain_attempt_is_unknown_and_reconcile_tells_whether_it_went_out(
    fake: FakeTwilio, method: Method, kind: FaultKind, record: bool
) -> None:
    notifier = NOTIFIERS[method](fake.base_url, timeout=0.5)
    fake.fail_to(ALICE, Fault(kind, record=record), count=1)

    result = notifier.send(page(method))

    assert result.outcome is DeliveryOutcome.UNKNOWN
    assert result.provider_id is None
    expected_error = "ReadTimeout" if kind == "hang" else "ConnectionError"
    assert result.error is not None and result.error.startswith(expected_error)
    assert len(fake.requests) == 1  # the SDK did not quietly send it again
    recorded = [doc["sid"] for doc in created(fake, method)]
    assert len(recorded) == (1 if record else 0)

    found = notifier.reconcile(page(method), attempted_at=T0)

    assert found == (recorded[0] if record else None)


@pytest.mark.parametrize("method", ["sms", "voice"])
def test_reconcile_converts_an_aware_attempt_time_to_utc(fake: FakeTwilio, method: Method) -> None:
    # The SDK writes a datetime's wall clock with a "Z": an attempt time in Tokyo (UTC+9) taken as
    # UTC would ask for pages nine hours in the future and miss the one that went out.
    notifier = NOTIFIERS[method](fake.base_url, timeout=0.5)
    fake.fail_to(ALICE, Fault("drop"), count=1)
    assert notifier.send(page(method)).outcome is DeliveryOutcome.UNKNOWN

    found = notifier.reconcile(page(method), attempted_at=T0.astimezone(ZoneInfo("Asia/Tokyo")))

    assert found == created(fake, method)[0]["sid"]


def test_sms_reconcile_ignores_other_bodies_other_numbers_and_earlier_sends(
    fake: FakeTwilio, clock: Clock
) -> None:
    notifier = sms_notifier(fake.base_url, timeout=0.5)
    clock.now = T0 - CLOCK_SLACK - timedelta(minutes=5)
    earlier = notifier.send(page())  # the same page, sent successfully well before this attempt
    assert earlier.outcome is DeliveryOutcome.SENT

    clock.now = T0
    fake.fail_to(ALICE, Fault("hang", record=False), count=1)
    assert notifier.send(page()).outcome is DeliveryOutcome.UNKNOWN
    clock.now = T0 + timedelta(seconds=10)
    assert notifier.send(page(body=BODY.replace("42", "43"), alert_id=43)).outcome is DeliveryOutcome.SENT
    assert notifier.send(page(to=BOB)).outcome is DeliveryOutcome.SENT

    assert notifier.reconcile(page(), attempted_at=T0) is None
    # Control: the earlier send is found when reconciling an attempt made at its time.
    assert notifier.reconcile(page(), attempted_at=T0 - CLOCK_SLACK - timedelta(minutes=5)) == (
        earlier.provider_id
    )


def test_sms_reconcile_tolerates_a_provider_clock_behind_ours(fake: FakeTwilio, clock: Clock) -> None:
    notifier = sms_notifier(fake.base_url, timeout=0.5)
    clock.now = T0 - timedelta(seconds=20)  # Twilio stamps it 20 s before our record of the attempt
    fake.fail_to(ALICE, Fault("drop"), count=1)
    assert notifier.send(page()).outcome is DeliveryOutcome.UNKNOWN

    [stored] = fake.messages
    assert notifier.reconcile(page(), attempted_at=T0) == stored["sid"]


def test_sms_reconcile_reads_every_page_of_the_list(fake: FakeTwilio, clock: Clock) -> None:
    notifier = sms_notifier(fake.base_url, timeout=0.5)
    fake.fail_to(ALICE, Fault("drop"), count=1)
    assert notifier.send(page()).outcome is DeliveryOutcome.UNKNOWN
    # Enough later messages to the same number to push ours off the first page (50 by default).
    for alert_id in range(100, 160):
        clock.now = T0 + timedelta(seconds=alert_id)
        assert (
            notifier.send(page(body=f"ALERT {alert_id} other", alert_id=alert_id)).outcome
            is DeliveryOutcome.SENT
        )

    found = notifier.reconcile(page(), attempted_at=T0)

    assert found == fake.messages[0]["sid"]
    assert len([r for r in fake.requests if r.method == "GET"]) == 2


def test_voice_reconcile_ignores_other_numbers_and_earlier_calls(fake: FakeTwilio, clock: Clock) -> None:
    notifier = voice_notifier(fake.base_url, timeout=0.5)
    clock.now = T0 - CLOCK_SLACK - timedelta(minutes=5)
    earlier = notifier.send(page("voice"))
    assert earlier.outcome is DeliveryOutcome.SENT

    clock.now = T0
    fake.fail_to(ALICE, Fault("hang", record=False), count=1)
    assert notifier.send(page("voice")).outcome is DeliveryOutcome.UNKNOWN
    clock.now = T0 + timedelta(seconds=10)
    assert notifier.send(page("voice", to=BOB)).outcome is DeliveryOutcome.SENT

    assert notifier.reconcile(page("voice"), attempted_at=T0) is None
    assert notifier.reconcile(page("voice"), attempted_at=T0 - CLOCK_SLACK - timedelta(minutes=5)) == (
        earlier.provider_id
    )


@pytest.mark.parametrize("method", ["sms", "voice"])
def test_reconcile_raises_when_the_provider_cannot_be_asked(fake: FakeTwilio, method: Method) -> None:
    # None would mean "never reached Twilio" and the page would be sent again: a failed lookup must
    # not say that. The caller keeps the outcome unknown and reconciles later.
    notifier = NOTIFIERS[method](fake.base_url, timeout=0.5)
    fake.fail_to(ALICE, Fault("drop"), count=1)
    assert notifier.send(page(method)).outcome is DeliveryOutcome.UNKNOWN

    fake.fail_next(Fault("server_error"), method="GET")
    with pytest.raises(TwilioException):
        notifier.reconcile(page(method), attempted_at=T0)
    fake.fail_next(Fault("hang", record=False), method="GET")
    with pytest.raises(requests.exceptions.ReadTimeout):
        notifier.reconcile(page(method), attempted_at=T0)
    with pytest.raises(requests.exceptions.ConnectionError):
        NOTIFIERS[method](closed_port_url()).reconcile(page(method), attempted_at=T0)

    # Once the provider answers again, the page is found.
    assert notifier.reconcile(page(method), attempted_at=T0) == created(fake, method)[0]["sid"]


@pytest.mark.parametrize("url", ["https://api.twilio.com/2010-04-01", "http://127.0.0.1:9/2010-04-01"])
def test_the_client_keeps_a_connection_alive_for_every_parallel_sender(url: str) -> None:
    client = make_client(ACCOUNT_SID, AUTH_TOKEN)
    session = client.http_client.session  # type: ignore[attr-defined]
    adapter = session.get_adapter(url)
    assert isinstance(adapter, requests.adapters.HTTPAdapter)
    assert adapter._pool_maxsize >= SENDERS  # type: ignore[attr-defined]
