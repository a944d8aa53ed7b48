"""The HTTP service end to end: a real `pager serve` process, the fake Twilio server and an SMTP sink.

Each story starts where a monitoring system or a person would (a webhook, a PagerDuty client, a
signed Twilio post, an email link) and checks the outcome through the REST API and the database:

- Alertmanager firing -> 202 -> ann gets the SMS -> her signed reply `<id>a` acknowledges it (the TwiML
  says so) -> Alertmanager resolved resolves it;
- the same through /v2/enqueue, driven by the `pagerduty` client library pointed at the server;
- acknowledging by pressing 4 on the call, and by the email link (GET changes nothing, POST acts,
  a second POST is refused);
- unsigned and wrongly signed Twilio posts and a sender who was not paged are refused, the alert unchanged.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pagerduty
import pytest
from sqlmodel import func, select

from pager.db.session import session_scope
from pager.db.tables import Alert, TimelineEntry
from tests.e2e.conftest import FROM_NUMBER
from tests.e2e.server_process import (
    BYSTANDER,
    PRIMARY,
    Server,
    running_server,
    signed_post,
    twilio_signature,
    twiml_text,
)

pytestmark = [pytest.mark.e2e, pytest.mark.database]

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ingest"
PAGE_WITHIN = 5.0  # trigger -> the provider has the page (normally well under a second)


def fixture(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return doc


@pytest.fixture
def server(e2e_database_url: str, tmp_path: Path) -> Iterator[Server]:
    with running_server(e2e_database_url, tmp_path) as running:
        yield running


def fire_alertmanager(server: Server) -> int:
    response = server.api(
        "POST",
        f"/integrations/alertmanager/{server.integration_key}",
        json=fixture("alertmanager_firing.json"),
    )
    assert response.status_code == 202, response.text
    alerts = response.json()["alerts"]
    assert len(alerts) == 1 and alerts[0]["action"] == "triggered", alerts
    return int(alerts[0]["id"])


class PublicHostTransport(httpx2.BaseTransport):
    """Sends `https://pager.test/...` to the local server over plain HTTP, as a TLS-terminating proxy would.

    The client refuses a base URL that is not https://, and the server under test speaks plain HTTP.
    """

    def __init__(self, server_url: str) -> None:
        self.target = httpx2.URL(server_url)
        self.inner = httpx2.HTTPTransport()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.url = request.url.copy_with(scheme="http", host=self.target.host, port=self.target.port)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def events_client(server: Server) -> pagerduty.EventsApiV2Client:
    """The `pagerduty` package's Events API v2 client, its requests going to `server`."""
    return pagerduty.EventsApiV2Client(
        server.integration_key, base_url="https://pager.test", transport=PublicHostTransport(server.url)
    )


def sms_reply(server: Server, sender: str, body: str) -> str:
    """What the server texts back to a signed inbound SMS from `sender`."""
    form = {
        "From": sender,
        "To": FROM_NUMBER,
        "Body": body,
        "MessageSid": "SM" + uuid.uuid4().hex,  # each message has its own: a repeated one is a replay
        "AccountSid": "AC" + "0" * 32,
    }
    response = signed_post(f"{server.url}/twilio/sms", form)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return twiml_text(response)


def decisive_fields(alert: Alert) -> tuple[object, ...]:
    """What acknowledging or resolving would change."""
    return (alert.status, alert.acknowledged_at, alert.acknowledged_by, alert.resolved_at, alert.resolved_by)


def action_entries(server: Server, alert_id: int) -> int:
    """Timeline entries recording a person's or an integration's action on the alert."""
    kinds = ("acknowledged", "resolved", "escalated", "link_used")
    with session_scope(server.engine, read_only=True) as session:
        query = (
            select(func.count())
            .select_from(TimelineEntry)
            .where(TimelineEntry.alert_id == alert_id, TimelineEntry.kind.in_(kinds))  # type: ignore[attr-defined]
        )
        return int(session.exec(query).one())


def test_alertmanager_firing_sms_ack_then_resolved(server: Server) -> None:
    alert_id = fire_alertmanager(server)
    sms = server.wait_for_sms(PRIMARY["sms"], timeout=PAGE_WITHIN)
    assert str(alert_id) in sms["Body"] and sms["From"] == FROM_NUMBER

    assert sms_reply(server, PRIMARY["sms"], f"{alert_id}a") == f"Alert {alert_id} acknowledged."
    assert server.alert_status(alert_id) == "acknowledged"
    stored = server.stored_alert(alert_id)
    assert (stored.status, stored.acknowledged_by) == ("acknowledged", PRIMARY["handle"])

    response = server.api(
        "POST",
        f"/integrations/alertmanager/{server.integration_key}",
        json=fixture("alertmanager_resolved.json"),
    )
    assert response.status_code == 202, response.text
    assert [(a["id"], a["action"]) for a in response.json()["alerts"]] == [(alert_id, "resolved")]
    assert server.alert_status(alert_id) == "resolved"
    assert server.stored_alert(alert_id).resolved_at is not None


def test_pagerduty_client_trigger_acknowledge_resolve(server: Server) -> None:
    client = events_client(server)
    dedup_key = client.trigger("Disk 97% full on db-1", "db-1.example.com", dedup_key="disk-full/db-1")
    assert dedup_key == "disk-full/db-1"
    alert_id = server.only_alert_id()
    assert server.stored_alert(alert_id).dedup_key == dedup_key
    assert "Disk 97% full on db-1" in server.wait_for_sms(PRIMARY["sms"], timeout=PAGE_WITHIN)["Body"]

    assert client.acknowledge(dedup_key) == dedup_key
    assert server.alert_status(alert_id) == "acknowledged"
    assert client.resolve(dedup_key) == dedup_key
    assert server.alert_status(alert_id) == "resolved"
    assert server.stored_alert(alert_id).resolved_at is not None
    assert server.only_alert_id() == alert_id  # the same dedup key never opened a second alert


def test_voice_key_4_acknowledges(server: Server) -> None:
    client = events_client(server)
    client.trigger("Checkout latency above 2s", "checkout-1", dedup_key="latency/checkout")
    alert_id = server.only_alert_id()
    call = server.wait_for_call(PRIMARY["voice"], timeout=PAGE_WITHIN)
    # The call carries its TwiML inline: the key press is posted to the Gather's action URL.
    action = re.search(r'<Gather action="([^"]+)"', call["Twiml"])
    assert action is not None, call["Twiml"]
    gather_url = html.unescape(action.group(1))
    assert gather_url == f"{server.url}/twilio/voice/gather?alert={alert_id}"

    form = {
        "CallSid": "CA" + "e2e" * 10 + "12",
        "From": FROM_NUMBER,
        "To": PRIMARY["voice"],
        "Direction": "outbound-api",
        "Digits": "4",
    }
    response = signed_post(gather_url, form)
    assert response.status_code == 200, response.text
    assert twiml_text(response).startswith(f"Alert {alert_id} acknowledged.")
    assert server.alert_status(alert_id) == "acknowledged"
    assert server.stored_alert(alert_id).acknowledged_by == PRIMARY["handle"]


def test_email_link_confirms_acts_once(server: Server) -> None:
    alert_id = fire_alertmanager(server)
    assert server.smtp.wait_for(1, timeout=PAGE_WITHIN)
    mail = server.smtp.deliveries[0]
    assert list(mail.rcpt_tos) == [PRIMARY["email"]]
    body = mail.message.get_content()
    links = dict(re.findall(r"^(Acknowledge|Resolve): (\S+)$", body, flags=re.MULTILINE))
    assert links["Acknowledge"].startswith(f"{server.url}/ack/"), body

    shown = server.api("GET", links["Acknowledge"].removeprefix(server.url))
    assert shown.status_code == 200 and f"Acknowledge alert {alert_id}?" in shown.text
    assert server.stored_alert(alert_id).status == "triggered"  # a link preview or scanner changes nothing

    used = server.api("POST", links["Acknowledge"].removeprefix(server.url))
    assert used.status_code == 200, used.text
    assert f"Alert {alert_id} acknowledged." in used.text
    acknowledged = server.stored_alert(alert_id)
    assert (acknowledged.status, acknowledged.acknowledged_by) == ("acknowledged", PRIMARY["handle"])
    entries = action_entries(server, alert_id)

    replayed = server.api("POST", links["Acknowledge"].removeprefix(server.url))
    assert replayed.status_code == 409 and "already used" in replayed.text
    assert decisive_fields(server.stored_alert(alert_id)) == decisive_fields(acknowledged)
    assert action_entries(server, alert_id) == entries


def test_forged_or_foreign_phone_replies_change_nothing(server: Server) -> None:
    alert_id = fire_alertmanager(server)
    server.wait_for_sms(PRIMARY["sms"], timeout=PAGE_WITHIN)
    before = server.stored_alert(alert_id)
    entries = action_entries(server, alert_id)
    ack = {"From": PRIMARY["sms"], "To": FROM_NUMBER, "Body": f"{alert_id}a", "MessageSid": "SM" + "1" * 32}

    unsigned = signed_post(f"{server.url}/twilio/sms", ack, signature="")
    assert unsigned.status_code == 403, unsigned.text
    forged = signed_post(f"{server.url}/twilio/sms", ack, auth_token="not-the-auth-token")
    assert forged.status_code == 403, forged.text
    # Twilio's signature for another body does not cover this one.
    other_body = twilio_signature(f"{server.url}/twilio/sms", ack | {"Body": "help"})
    tampered = signed_post(f"{server.url}/twilio/sms", ack, signature=other_body)
    assert tampered.status_code == 403, tampered.text
    voice = {"From": FROM_NUMBER, "To": PRIMARY["voice"], "Direction": "outbound-api", "Digits": "4"}
    unsigned_key = signed_post(f"{server.url}/twilio/voice/gather?alert={alert_id}", voice, signature="")
    assert unsigned_key.status_code == 403, unsigned_key.text

    assert sms_reply(server, BYSTANDER["sms"], f"{alert_id}a") == f"You were not paged for alert {alert_id}."
    assert sms_reply(server, "+15555550199", f"{alert_id}a").startswith("This number is not set up")

    assert server.alert_status(alert_id) == "triggered"
    assert decisive_fields(server.stored_alert(alert_id)) == decisive_fields(before)
    assert action_entries(server, alert_id) == entries


def test_text_holding_nul_is_refused_and_nothing_stored(server: Server) -> None:
    # Postgres cannot store NUL in text: found by schemathesis as a 500 there.
    firing = fixture("alertmanager_firing.json")
    firing["commonAnnotations"]["summary"] = "5xx ratio\x00above 5%"
    response = server.api("POST", f"/integrations/alertmanager/{server.integration_key}", json=firing)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"] == [
        {"field": "body.commonAnnotations.summary", "message": "must not contain the NUL character"}
    ]
    event = {
        "routing_key": server.integration_key,
        "event_action": "trigger",
        "dedup_key": "disk\x00full",
        "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"},
    }
    response = server.api("POST", "/v2/enqueue", json=event)
    assert response.status_code == 400, response.text
    assert response.json()["errors"] == ["dedup_key: must not contain the NUL character"]
    assert server.api("GET", "/api/v1/alerts").json()["items"] == []


def test_numbers_json_does_not_have_are_refused_and_nothing_stored(server: Server) -> None:
    """Python's JSON reader takes NaN and Infinity (and 1e999 overflows to infinity); JSON has no
    such numbers, Postgres refuses them, and stored as null they would be lost: refused, naming each."""
    event = {
        "routing_key": server.integration_key,
        "event_action": "trigger",
        "payload": {"summary": "Odd numbers", "source": "db-1", "severity": "critical"},
    }
    raw = json.dumps(event).replace(
        '"severity": "critical"}',
        '"severity": "critical", "custom_details": {"ratio": NaN, "rates": [1.5, Infinity, -1e999]}}',
    )
    response = server.api("POST", "/v2/enqueue", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    not_finite = "must be a finite number (NaN and Infinity are not JSON)"
    assert response.json()["errors"] == [
        f"payload.custom_details.ratio: {not_finite}",
        f"payload.custom_details.rates.1: {not_finite}",
        f"payload.custom_details.rates.2: {not_finite}",
    ]
    generic = '{"status": "firing", "summary": "Odd", "details": {"load": Infinity}}'
    response = server.api(
        "POST",
        f"/integrations/generic/{server.integration_key}",
        content=generic,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"] == [{"field": "body.details.load", "message": not_finite}]
    assert server.api("GET", "/api/v1/alerts").json()["items"] == []
    # A large finite number is fine.
    fine = json.dumps(event).replace(
        '"severity": "critical"}', '"severity": "critical", "custom_details": {"big": 1e300}}'
    )
    response = server.api("POST", "/v2/enqueue", content=fine, headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    items = server.api("GET", "/api/v1/alerts").json()["items"]
    assert [item["summary"] for item in items] == ["Odd numbers"]
