"""The fake Twilio REST server, driven by the real `twilio` SDK over loopback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from pager.testing.fake_twilio import FakeTwilio, Fault, twilio_client

ACCOUNT_SID = "AC00000000000000000000000000000000"
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
FROM = "+15005550006"
ALICE = "+13125550101"
BOB = "+13125550102"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


class Clock:
    """A hand-moved clock for the fake (times are what the API reports, not the wall)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as running:
        yield running


@pytest.fixture
def client(fake: FakeTwilio) -> Client:
    return twilio_client(fake.base_url, ACCOUNT_SID, AUTH_TOKEN, timeout=5)


def send(
    client: Client, to: str = ALICE, body: str = "ALERT 42 checkout-api: High error rate", **kw: Any
) -> Any:
    return client.messages.create(to=to, from_=FROM, body=body, **kw)


# -- messages ------------------------------------------------------------------------------------------


def test_create_sms_answers_queued_message_like_the_real_api(fake: FakeTwilio, client: Client) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    message = send(client, status_callback="http://127.0.0.1:9/twilio/status")
    after = datetime.now(UTC)

    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert (message.status, message.to, message.from_, message.account_sid) == (
        "queued",
        ALICE,
        FROM,
        ACCOUNT_SID,
    )
    assert message.body == "ALERT 42 checkout-api: High error rate"
    assert message.direction == "outbound-api"
    assert message.num_segments == "1"
    assert before <= message.date_created <= after
    assert message.date_sent is None
    assert message.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message.sid}.json"

    [request] = fake.requests
    assert (request.method, request.path) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    assert request.form == {
        "To": ALICE,
        "From": FROM,
        "Body": message.body,
        "StatusCallback": "http://127.0.0.1:9/twilio/status",
    }
    [stored] = fake.messages
    assert (stored["sid"], stored["status"]) == (message.sid, "sent")
    assert stored["date_created"] == message.date_created.strftime("%a, %d %b %Y %H:%M:%S +0000")


def test_fetch_one_message_and_404_for_an_unknown_sid(fake: FakeTwilio, client: Client) -> None:
    created = send(client)
    fetched = client.messages(created.sid).fetch()
    assert (fetched.sid, fetched.body, fetched.status) == (created.sid, created.body, "sent")
    assert fetched.date_sent == created.date_created

    with pytest.raises(TwilioRestException) as raised:
        client.messages("SM" + "f" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_list_messages_by_recipient_and_date_sent() -> None:
    clock = Clock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, clock=clock) as fake:
        client = twilio_client(fake.base_url, ACCOUNT_SID, AUTH_TOKEN, timeout=5)
        for minute, to, body in [(0, ALICE, "a1"), (5, BOB, "b1"), (10, ALICE, "a2"), (15, ALICE, "a3")]:
            clock.now = datetime(2026, 11, 23, 10, minute, 30, 250_000, tzinfo=UTC)
            send(client, to=to, body=body)

        def bodies(**filters: Any) -> list[str]:
            return [m.body for m in client.messages.list(**filters)]

        assert bodies(to=ALICE) == ["a3", "a2", "a1"]  # newest first, like the real API
        assert bodies(to=BOB) == ["b1"]
        assert bodies(from_=FROM) == ["a3", "a2", "b1", "a1"]
        since = datetime(2026, 11, 23, 10, 10, 30, tzinfo=UTC)  # the second a2 went out: included
        assert bodies(to=ALICE, date_sent_after=since) == ["a3", "a2"]
        assert bodies(to=ALICE, date_sent_after=since + timedelta(seconds=1)) == ["a3"]
        assert bodies(to=ALICE, date_sent_before=since) == ["a2", "a1"]
        assert bodies(date_sent_after=datetime(2026, 11, 23, 11, 0, tzinfo=UTC)) == []
        sent = [r.query for r in fake.requests if r.method == "GET"]
        assert sent[3] == {"To": ALICE, "DateSent>": "2026-11-23T10:10:30Z"}


def test_date_only_filter_covers_the_whole_utc_day() -> None:
    clock = Clock(datetime(2026, 3, 8, 23, 59, 59, tzinfo=UTC))
    auth = (ACCOUNT_SID, AUTH_TOKEN)
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, clock=clock) as fake:
        send(twilio_client(fake.base_url, ACCOUNT_SID, AUTH_TOKEN, timeout=5))
        base = f"{fake.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        for query, expected in [
            ({"DateSent": "2026-03-08"}, 1),
            ({"DateSent<": "2026-03-08"}, 1),
            ({"DateSent>": "2026-03-08"}, 1),
            ({"DateSent>": "2026-03-09"}, 0),
            ({"DateSent<": "2026-03-07"}, 0),
            ({"DateSent": "2026-03-09"}, 0),
        ]:
            page = requests.get(base, params=query, auth=auth, timeout=5).json()
            assert len(page["messages"]) == expected, query
        bad = requests.get(base, params={"DateSent>": "yesterday"}, auth=auth, timeout=5)
        assert (bad.status_code, bad.json()["status"]) == (400, 400)


def test_list_follows_next_page_uri_across_pages(fake: FakeTwilio, client: Client) -> None:
    created = [send(client, body=f"page me {i}").sid for i in range(7)]

    listed = client.messages.list(page_size=3)
    assert [m.sid for m in listed] == created[::-1]
    page_requests = [r for r in fake.requests if r.method == "GET"]
    assert [r.query.get("Page") for r in page_requests] == [None, "1", "2"]
    assert all(r.query["PageSize"] == "3" for r in page_requests)

    assert [m.sid for m in client.messages.list(limit=4, page_size=3)] == created[:2:-1]


# -- calls ---------------------------------------------------------------------------------------------


def test_create_fetch_and_list_calls(fake: FakeTwilio, client: Client) -> None:
    since = datetime.now(UTC).replace(microsecond=0)
    twiml = '<Response><Gather numDigits="1"><Say>Alert 42</Say></Gather></Response>'
    call = client.calls.create(to=ALICE, from_=FROM, twiml=twiml, status_callback="http://127.0.0.1:9/s")
    by_url = client.calls.create(to=BOB, from_=FROM, url="http://127.0.0.1:9/twilio/voice")

    assert re.fullmatch(r"CA[0-9a-f]{32}", call.sid)
    assert (call.status, call.to, call._from, call.start_time) == ("queued", ALICE, FROM, None)
    assert call.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{call.sid}.json"
    assert client.calls(call.sid).fetch().status == "ringing"
    assert [c.sid for c in client.calls.list(to=ALICE, start_time_after=since)] == [call.sid]
    assert [c.sid for c in client.calls.list(start_time_after=since)] == [by_url.sid, call.sid]
    assert client.calls.list(start_time_after=since + timedelta(hours=1)) == []
    forms = [r.form for r in fake.requests if r.method == "POST"]
    assert forms[0]["Twiml"] == twiml
    assert forms[1]["Url"] == "http://127.0.0.1:9/twilio/voice"
    assert [c["sid"] for c in fake.calls] == [call.sid, by_url.sid]


def test_call_without_url_or_twiml_is_refused(fake: FakeTwilio, client: Client) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.calls.create(to=ALICE, from_=FROM)
    assert (raised.value.status, raised.value.code) == (400, 21205)
    assert fake.calls == []


# -- authentication ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sid", "token"), [(ACCOUNT_SID, "wrong-token"), ("AC" + "1" * 32, AUTH_TOKEN)], ids=["token", "sid"]
)
def test_wrong_credentials_get_401(fake: FakeTwilio, sid: str, token: str) -> None:
    intruder = twilio_client(fake.base_url, sid, token, timeout=5)
    with pytest.raises(TwilioRestException) as raised:
        send(intruder)
    assert (raised.value.status, raised.value.code) == (401, 20003)
    assert fake.messages == []
    assert len(fake.requests) == 1

    anonymous = requests.get(f"{fake.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "code": 20003,
        "detail": "Your AccountSid or AuthToken was incorrect.",
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }


# -- faults --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status", "code"),
    [("server_error", 500, 20500), ("rate_limited", 429, 20429), ("invalid_to", 400, 21211)],
)
def test_error_fault_answers_once_then_service_resumes(
    fake: FakeTwilio, client: Client, kind: Any, status: int, code: int
) -> None:
    fake.fail_next(Fault(kind))
    with pytest.raises(TwilioRestException) as raised:
        send(client)
    assert (raised.value.status, raised.value.code) == (status, code)
    assert fake.messages == []

    assert send(client).status == "queued"
    assert len(fake.messages) == 1


def test_invalid_to_has_the_real_error_shape(fake: FakeTwilio) -> None:
    fake.fail_next(Fault("invalid_to"))
    answer = requests.post(
        f"{fake.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        data={"To": ALICE, "From": FROM, "Body": "x"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "code": 21211,
        "message": f"The 'To' number {ALICE} is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }


def test_a_malformed_number_is_refused_with_21211_without_injection(client: Client) -> None:
    with pytest.raises(TwilioRestException) as raised:
        send(client, to="555-0101")
    assert (raised.value.status, raised.value.code) == (400, 21211)


def test_destination_faults_hit_only_that_number(fake: FakeTwilio, client: Client) -> None:
    fake.fail_to(BOB, Fault("invalid_to"))
    fake.fail_to(ALICE, Fault("server_error"), count=1)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as raised:
            send(client, to=BOB)
        assert raised.value.code == 21211
    with pytest.raises(TwilioRestException) as raised:
        send(client, to=ALICE)
    assert raised.value.status == 500
    send(client, to=ALICE)
    fake.clear_faults()
    send(client, to=BOB)
    assert [m["to"] for m in fake.messages] == [ALICE, BOB]


def test_fault_on_the_list_request_leaves_creates_alone(fake: FakeTwilio, client: Client) -> None:
    fake.fail_next(Fault("server_error"), method="GET")
    send(client)
    with pytest.raises(TwilioException):
        client.messages.list(to=ALICE)
    assert len(client.messages.list(to=ALICE)) == 1


@pytest.mark.parametrize("record", [True, False])
def test_hang_makes_the_client_time_out_with_an_unknown_outcome(fake: FakeTwilio, record: bool) -> None:
    impatient = twilio_client(fake.base_url, ACCOUNT_SID, AUTH_TOKEN, timeout=0.5)
    fake.fail_next(Fault("hang", record=record))
    with pytest.raises(requests.exceptions.ReadTimeout):
        send(impatient, body="did this go out?")
    assert len(fake.requests) == 1

    # Reconciliation asks the provider: the page exists exactly when the fake recorded it.
    found = impatient.messages.list(to=ALICE)
    assert [m.body for m in found] == (["did this go out?"] if record else [])


def test_hang_with_delay_answers_late(fake: FakeTwilio, client: Client) -> None:
    fake.fail_next(Fault("hang", record=False, delay=0.2))
    message = send(client, body="slow")
    assert message.status == "queued"
    assert [m["sid"] for m in fake.messages] == [message.sid]


@pytest.mark.parametrize("record", [True, False])
def test_dropped_connection_after_the_request_went_out(
    fake: FakeTwilio, client: Client, record: bool
) -> None:
    fake.fail_next(Fault("drop", record=record))
    with pytest.raises(requests.exceptions.ConnectionError):
        send(client)
    assert len(fake.messages) == (1 if record else 0)
    assert send(client).status == "queued"


def test_stop_releases_a_request_that_hangs_forever() -> None:
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN) as fake:
        patient = twilio_client(fake.base_url, ACCOUNT_SID, AUTH_TOKEN, timeout=5)
        fake.fail_next(Fault("hang"))
        outcome: list[BaseException] = []

        def attempt() -> None:
            try:
                send(patient)
            except BaseException as error:
                outcome.append(error)

        worker = threading.Thread(target=attempt)
        worker.start()
        assert fake.wait_for_requests(1, timeout=2)
    worker.join(timeout=2)
    assert not worker.is_alive()
    assert [type(e) for e in outcome] == [requests.exceptions.ConnectionError]


# -- status callbacks ----------------------------------------------------------------------------------


class CallbackReceiver:
    """A tiny webhook endpoint that checks X-Twilio-Signature as the pager server will (403 if bad)."""

    def __init__(self, auth_token: str) -> None:
        self.received: list[tuple[bool, dict[str, str]]] = []
        validator = RequestValidator(auth_token)
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = dict(urllib.parse.parse_qsl(body))
                url = f"http://{self.headers['Host']}{self.path}"
                valid = validator.validate(url, form, self.headers.get("X-Twilio-Signature", ""))
                received.append((valid, form))
                self.send_response(204 if valid else 403)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/twilio/status?kind=sms"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})

    def __enter__(self) -> CallbackReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def test_signed_message_status_callback(fake: FakeTwilio, client: Client) -> None:
    with CallbackReceiver(AUTH_TOKEN) as receiver:
        message = send(client, status_callback=receiver.url)
        assert fake.send_status_callback(message.sid, "undelivered", error_code=30003) == 204

    [(valid, form)] = receiver.received
    assert valid
    assert form == {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "From": FROM,
        "To": ALICE,
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "MessageStatus": "undelivered",
        "SmsStatus": "undelivered",
        "ErrorCode": "30003",
    }
    fixture = json.loads((FIXTURES / "twilio_status_callback.json").read_text())
    assert set(form) == set(fixture) - {"_note"}
    fetched = client.messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)


def test_status_callback_signature_is_bound_to_the_auth_token(fake: FakeTwilio, client: Client) -> None:
    with CallbackReceiver("some-other-token") as receiver:
        message = send(client, status_callback=receiver.url)
        assert fake.send_status_callback(message.sid, "delivered") == 403
    assert [valid for valid, _ in receiver.received] == [False]


def test_signed_call_status_callback(fake: FakeTwilio, client: Client) -> None:
    with CallbackReceiver(AUTH_TOKEN) as receiver:
        call = client.calls.create(to=ALICE, from_=FROM, twiml="<Response/>", status_callback=receiver.url)
        assert fake.send_status_callback(call.sid, "no-answer") == 204
    [(valid, form)] = receiver.received
    assert valid
    assert (form["CallSid"], form["CallStatus"], form["To"], "ErrorCode" in form) == (
        call.sid,
        "no-answer",
        ALICE,
        False,
    )
    assert client.calls(call.sid).fetch().status == "no-answer"


def test_status_callback_needs_a_callback_url(fake: FakeTwilio, client: Client) -> None:
    message = send(client)
    with pytest.raises(ValueError, match="StatusCallback"):
        fake.send_status_callback(message.sid)
    with pytest.raises(KeyError):
        fake.send_status_callback("SM" + "0" * 32)


def test_an_outage_refuses_connections_then_serves_on_the_same_port_with_its_records(
    fake: FakeTwilio, client: Client
) -> None:
    send(client, to=ALICE)
    url = fake.base_url
    request = urllib.request.Request(f"{url}/_fake/outage", data=json.dumps({"seconds": 0.5}).encode())
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.loads(answer.read())["down_for"] == 0.5
    deadline = time.monotonic() + 5
    refused = False
    while not refused and time.monotonic() < deadline:  # the socket closes just after the answer
        try:
            requests.get(f"{url}/_fake/messages", timeout=1)
        except requests.ConnectionError:
            refused = True
    assert refused
    with pytest.raises(requests.ConnectionError):
        send(client, to=BOB)
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/_fake/messages", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.05)
    assert fake.base_url == url
    send(client, to=BOB)
    assert [m["to"] for m in fake.messages] == [ALICE, BOB]


# -- as a separate process -----------------------------------------------------------------------------


@pytest.mark.e2e
def test_runs_as_a_process_driven_over_http() -> None:
    command = [sys.executable, "-m", "pager.testing.fake_twilio", "--port", "0"]
    command += ["--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        client = twilio_client(base_url, ACCOUNT_SID, AUTH_TOKEN, timeout=5)
        send(client)

        def control(method: str, path: str, doc: Any = None) -> Any:
            data = None if doc is None else json.dumps(doc).encode()
            request = urllib.request.Request(base_url + path, data=data, method=method)
            with urllib.request.urlopen(request, timeout=5) as answer:
                return json.loads(answer.read())

        [recorded] = control("GET", "/_fake/requests")
        assert (recorded["method"], recorded["form"]["To"]) == ("POST", ALICE)
        assert [m["to"] for m in control("GET", "/_fake/messages")] == [ALICE]

        control("POST", "/_fake/faults", {"kind": "server_error", "count": 1})
        control("POST", "/_fake/faults", {"kind": "invalid_to", "to": BOB})
        with pytest.raises(TwilioRestException) as raised:
            send(client)
        assert raised.value.status == 500
        with pytest.raises(TwilioRestException) as raised:
            send(client, to=BOB)
        assert raised.value.code == 21211
        control("DELETE", "/_fake/faults")
        send(client, to=BOB)
        assert [m["to"] for m in control("GET", "/_fake/messages")] == [ALICE, BOB]
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
