"""Snooze and maintenance end to end: a real `pager serve` (with its worker), the fake Twilio server.

- ann is paged, texts a signed `snooze 1` (her one open alert): the alert is acknowledged, nothing
  more goes out, and about a minute later level 1 pages her again (this test waits that real minute,
  polling; it is the only one that does);
- a maintenance window started over REST `for: 4s` holds a trigger (stored `suppressed`, nobody
  paged); when the window ends, level 1 pages ann, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pager.db.session import session_scope
from pager.services.alerting.alerts import alert_timeline
from tests.e2e.conftest import FROM_NUMBER, wait_until
from tests.e2e.server_process import PRIMARY, Server, running_server, signed_post, twiml_text

pytestmark = [pytest.mark.e2e, pytest.mark.database]

PAGE_WITHIN = 5.0


@pytest.fixture
def server(e2e_database_url: str, tmp_path: Path) -> Iterator[Server]:
    with running_server(e2e_database_url, tmp_path) as running:
        yield running


def sms_to_ann(server: Server) -> list[dict[str, str]]:
    return server.twilio_creates("Messages", PRIMARY["sms"])


def timeline(server: Server, alert_id: int) -> list[str]:
    with session_scope(server.engine, read_only=True) as session:
        return [f"{e.kind}: {e.message}" for e in alert_timeline(session, alert_id)]


def test_a_snooze_by_sms_silences_the_alert_and_level_one_is_paged_again_a_minute_later(
    server: Server,
) -> None:
    assert server.trigger("snooze-e2e", "Checkout down", source="e2e").status_code == 202
    server.wait_for_sms(PRIMARY["sms"], timeout=PAGE_WITHIN)
    alert_id = server.only_alert_id()
    form = {
        "From": PRIMARY["sms"],
        "To": FROM_NUMBER,
        "Body": "snooze 1",
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "0" * 32,
    }
    snoozed_at = datetime.now(UTC)
    response = signed_post(f"{server.url}/twilio/sms", form)
    assert response.status_code == 200, response.text
    assert twiml_text(response) == f"Alert {alert_id} snoozed for 1 min; it pages again then unless resolved."
    assert server.alert_status(alert_id) == "acknowledged"
    first_pages = len(sms_to_ann(server))

    wait_until(
        "level 1 paged again after the snooze",
        lambda: len(sms_to_ann(server)) > first_pages,
        timeout=60 + 15,
        interval=0.5,
    )
    paged_again = datetime.now(UTC)
    assert paged_again - snoozed_at >= timedelta(seconds=59), "paged again before the snooze ended"
    assert server.alert_status(alert_id) == "triggered"
    lines = timeline(server, alert_id)
    ended = lines.index("snooze_ended: snooze by ann ended; not resolved, so paging restarted from level 1")
    assert lines[ended + 1] == "level_paged: level 1 (loop 1) paged: ann"
    assert any(line.startswith("snoozed: snoozed by ann for 1m, until ") for line in lines)
    assert len(sms_to_ann(server)) == first_pages + 1, server.log()


def test_a_maintenance_window_holds_a_trigger_until_it_ends(server: Server) -> None:
    started = server.api(
        "POST", "/api/v1/maintenance", json={"service": "checkout-api", "for": "4s", "reason": "deploy"}
    )
    assert started.status_code == 201, started.text
    window_end = datetime.fromisoformat(started.json()["end"])
    assert server.trigger("held-e2e", "Checkout down", source="e2e").status_code == 202
    alert_id = server.only_alert_id()
    assert server.alert_status(alert_id) == "suppressed"

    sms = server.wait_for_sms(PRIMARY["sms"], timeout=4 + PAGE_WITHIN)
    received = datetime.now(UTC)
    assert received >= window_end, f"paged at {received.isoformat()}, before the window's end"
    assert str(alert_id) in sms["Body"]
    assert server.alert_status(alert_id) == "triggered"
    lines = timeline(server, alert_id)
    window = started.json()["id"]
    assert lines[1].startswith(f"suppressed: maintenance window {window} (deploy) holds this service until ")
    assert f"hold_ended: maintenance window {window} (deploy) ended; paging starts at level 1" in lines
    assert len(sms_to_ann(server)) == 1
