"""Snooze by phone, through signed Twilio requests: `snooze 42 30`, bare `snooze 30`, key 7 on a call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from pager.core.sms_grammar import HELP_TEXT
from pager.services.runtime import Runtime
from pager.worker import tick
from tests.api.test_twilio_webhooks import (
    T0,
    alert_row,
    client,
    clock,
    outbox,
    page,
    runtime,
    said,
    signed_post,
    sms_form,
    sms_from,
    snapshot,
    timeline,
    voice_post,
)
from tests.support import Clock

__all__ = ["client", "clock", "runtime"]  # the fixtures this module uses

pytestmark = pytest.mark.database


@pytest.mark.parametrize("template", ["snooze {id} 30", "SNOOZE {id} 30.", "snooze 30", " Snooze  30 "])
def test_a_snooze_reply_acknowledges_and_pages_again_at_its_end(
    client: TestClient, runtime: Runtime, clock: Clock, template: str
) -> None:
    alert_id = page(runtime)
    clock.now = T0 + timedelta(seconds=30)
    reply = sms_from(client, "alice", template.format(id=alert_id))
    assert reply == f"Alert {alert_id} snoozed for 30 min; it pages again then unless resolved."
    row = alert_row(runtime, alert_id)
    assert (row.status, row.acknowledged_by, row.next_action_at) == (
        "acknowledged",
        "alice",
        clock.now + timedelta(minutes=30),
    )
    assert outbox(runtime, alert_id, "voice").status == "cancelled"  # the 1-minute call never goes out
    assert any(
        line.startswith("snoozed: snoozed by alice for 30m, until ") for line in timeline(runtime, alert_id)
    )
    tick(runtime, clock.now + timedelta(minutes=30))
    assert alert_row(runtime, alert_id).status == "triggered"
    assert "snooze_ended: snooze by alice ended; not resolved, so paging restarted from level 1" in timeline(
        runtime, alert_id
    )


def test_bare_snooze_follows_the_rules_of_bare_ack(client: TestClient, runtime: Runtime) -> None:
    first = page(runtime, key="one")
    second = page(runtime, key="two", service="db")
    before = snapshot(runtime)
    assert (
        sms_from(client, "alice", "snooze 30")
        == f"Open alerts: {first} checkout-api, {second} db. Reply {first}a to ack."
    )
    assert sms_from(client, "carol", "snooze 30") == "You have no open alerts."
    assert sms_from(client, "carol", f"snooze {first} 30") == f"You were not paged for alert {first}."
    assert snapshot(runtime) == before


@pytest.mark.parametrize("text", ["snooze 0", "snooze 1441", "snooze 42 99999"])
def test_a_snooze_out_of_bounds_is_refused_and_changes_nothing(
    client: TestClient, runtime: Runtime, text: str
) -> None:
    page(runtime)
    before = snapshot(runtime)
    assert sms_from(client, "alice", text).startswith("Not snoozed: a snooze lasts 1 to 1440 minutes")
    assert snapshot(runtime) == before


@pytest.mark.parametrize("text", ["snooze", "snooze 42", "snooze for 30", "snooze 0 30"])
def test_a_snooze_without_minutes_gets_help(client: TestClient, runtime: Runtime, text: str) -> None:
    page(runtime)
    before = snapshot(runtime)
    reply = sms_from(client, "alice", text)
    if text == "snooze 42":  # 42 minutes of the one open alert
        assert reply.endswith("snoozed for 42 min; it pages again then unless resolved.")
        return
    assert reply == HELP_TEXT and "snooze 42 30" in HELP_TEXT
    assert snapshot(runtime) == before


def test_an_unsigned_snooze_is_refused(client: TestClient, runtime: Runtime) -> None:
    alert_id = page(runtime)
    before = snapshot(runtime)
    response = client.post("/twilio/sms", data=sms_form("alice", f"snooze {alert_id} 30"))
    assert response.status_code == 403
    assert signed_post(client, "/twilio/sms", sms_form("alice", "x")).status_code == 200
    assert snapshot(runtime) == before


def test_key_7_on_a_call_snoozes_for_30_minutes(client: TestClient, runtime: Runtime, clock: Clock) -> None:
    alert_id = page(runtime)
    clock.now = T0 + timedelta(minutes=1)
    tick(runtime, clock.now)  # the voice step
    twiml = voice_post(client, f"/twilio/voice/gather?alert={alert_id}", "alice", "7")
    assert said(twiml) == [
        f"Alert {alert_id} snoozed for 30 min; it pages again then unless resolved. Goodbye."
    ]
    row = alert_row(runtime, alert_id)
    assert (row.status, row.next_action_at) == ("acknowledged", clock.now + timedelta(minutes=30))
