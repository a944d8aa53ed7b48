"""The pure webhook rules (docs/integrations.md): checking a subscription, the secret, pausing,
the order rule of the claim, the timeline mapping, the settle rule and the chat text."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from pager.adapters.webhook_sender import outcome_of_status
from pager.core.webhook_messages import mattermost_body, slack_body, standard_body
from pager.core.webhooks import (
    QueuedDelivery,
    WebhookInputError,
    after_failure,
    check_subscription,
    events_of_entry,
    in_order_sendable,
    settled_prefix,
    signing_secret,
)

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_a_good_subscription_is_checked_and_trimmed() -> None:
    checked = check_subscription(
        " https://h.example/x ", ["incident.declared", " alert.resolved", ""], "slack"
    )
    assert (checked.url, checked.events, checked.format) == (
        "https://h.example/x",
        ("incident.declared", "alert.resolved"),
        "slack",
    )


@pytest.mark.parametrize(
    ("url", "events", "format", "message"),
    [
        ("ftp://h.example/x", ["incident.declared"], "standard", "http:// or https://"),
        ("https:///nohost", ["incident.declared"], "standard", "with a host"),
        ("http://[::1", ["incident.declared"], "standard", "with a host"),
        ("http://h.example/a b", ["incident.declared"], "standard", "with a host"),
        ("https://h.example", ["incident.updated"], "standard", "unknown event incident.updated"),
        ("https://h.example", [], "standard", "at least one"),
        ("https://h.example", ["alert.triggered"], "teams", "unknown format 'teams'"),
    ],
)
def test_bad_subscriptions_name_the_problem(url: str, events: list[str], format: str, message: str) -> None:
    with pytest.raises(WebhookInputError, match=message):
        check_subscription(url, events, format)


def test_the_secret_is_whsec_and_base64_of_24_bytes_or_more() -> None:
    secret = signing_secret(bytes(range(24)))
    assert secret.startswith("whsec_") and base64.b64decode(secret[6:]) == bytes(range(24))
    with pytest.raises(ValueError, match="24 random bytes"):
        signing_secret(b"short")


def test_a_subscription_is_paused_after_10_failures_or_24_hours() -> None:
    assert not after_failure(9, T0, T0 + timedelta(hours=1)).pause
    assert after_failure(10, T0, T0 + timedelta(minutes=5)).reason == "10 deliveries in a row failed"
    assert after_failure(2, T0, T0 + timedelta(hours=24)).reason == "every delivery failed for 24 hours"


def q(id: int, sequence: int, subject: str = "incident:1", subscription: int = 1) -> QueuedDelivery:
    return QueuedDelivery(id, subscription, subject, sequence)


def test_a_later_event_waits_while_an_earlier_one_of_the_same_subject_is_unsettled() -> None:
    retrying = q(1, 10)  # pending, but not due yet (backing off)
    later = q(2, 11)
    assert in_order_sendable([later], [retrying, later]) == []


def test_only_the_earliest_event_per_subject_and_subscription_goes_in_one_claim() -> None:
    rows = [q(3, 12), q(1, 10), q(2, 10), q(4, 5, subject="incident:2"), q(5, 11, subscription=2)]
    assert in_order_sendable(rows, rows) == [1, 4, 5]


def test_timeline_kinds_map_to_events() -> None:
    assert events_of_entry("alert_timeline", "acknowledged", {}) == ("alert.acknowledged",)
    assert events_of_entry("alert_timeline", "level_paged", {}) == ()
    resolved = events_of_entry("incident_timeline", "status_changed", {"to": "resolved"})
    assert resolved == ("incident.status_changed", "incident.resolved")
    assert events_of_entry("incident_timeline", "role_handed_over", {}) == ("incident.role_assigned",)
    assert events_of_entry("incident_timeline", "update", {}) == ("incident.update_posted",)


def test_only_entries_older_than_the_settle_time_are_read_and_none_past_a_young_one() -> None:
    settle = timedelta(seconds=5)
    ats = [T0, T0 + timedelta(seconds=4), T0]  # the third committed late with an older instant
    assert settled_prefix(ats, T0 + timedelta(seconds=6), settle) == 1
    assert settled_prefix(ats, T0 + timedelta(seconds=9), settle) == 3


def test_http_statuses_map_to_outcomes() -> None:
    kinds = {
        status: outcome_of_status(status).kind for status in (200, 204, 302, 400, 404, 408, 429, 500, 503)
    }
    assert kinds == {
        200: "sent",
        204: "sent",
        302: "permanent",
        400: "permanent",
        404: "permanent",
        408: "transient",
        429: "transient",
        500: "transient",
        503: "transient",
    }


def test_messages_read_well() -> None:
    declared = {
        "number": 7,
        "title": "Checkout down",
        "severity": "SEV1",
        "commander": "alice",
        "url": "https://p.example/api/v1/incidents/7",
    }
    text = slack_body("incident.declared", declared)["text"]
    assert text == (
        ":rotating_light: Incident #7 Checkout down declared, SEV1, commander alice "
        "<https://p.example/api/v1/incidents/7|open>"
    )
    resolved = mattermost_body(
        "incident.resolved", {"number": 7, "title": "Checkout down", "duration_s": 5400}
    )
    assert resolved == {
        "text": ":white_check_mark: Incident #7 Checkout down resolved after 1h30m",
        "username": "pager",
    }
    update = slack_body(
        "incident.update_posted", {"number": 7, "title": "X", "status": "monitoring", "message": "fixed"}
    )
    assert update["text"] == "Incident #7 X: status update (monitoring)\nfixed"
    alert = slack_body(
        "alert.acknowledged", {"alert_id": 3, "service": "api", "summary": "Disk full", "by": "bob"}
    )
    assert alert["text"] == "Alert #3 [api] acknowledged by bob: Disk full"
    assert standard_body("alert.resolved", T0, {"alert_id": 3}) == {
        "type": "alert.resolved",
        "timestamp": "2026-03-02T15:00:00Z",
        "data": {"alert_id": 3},
    }
