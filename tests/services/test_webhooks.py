"""Outgoing webhooks through the real services and database, posted to a real local HTTP receiver,
on a fake clock driven by `pager.worker.tick` (docs/integrations.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, event
from sqlmodel import Session, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from pager.adapters.webhook_sender import WebhookOutcome
from pager.db.incident_tables import Incident, IncidentEvent
from pager.db.incident_timeline import add_incident_event
from pager.db.session import session_scope
from pager.db.tables import TimelineEntry
from pager.db.webhook_tables import WebhookDelivery, WebhookSubscription
from pager.services.alerting import alerts, catalog
from pager.services.integrations.webhook_delivery import send_due_webhooks
from pager.services.integrations.webhook_events import queue_webhook_events
from pager.services.integrations.webhooks import add_webhook, list_webhooks, resume_webhook
from pager.services.people import users
from pager.services.runtime import Runtime
from pager.worker import tick
from tests import support
from tests.services.test_engine import write_config
from tests.webhook_receiver import receiver

pytestmark = pytest.mark.database

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
INCIDENT_EVENTS = ["incident.declared", "incident.status_changed", "incident.resolved"]


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Iterator[Runtime]:
    built = support.console_runtime(
        engine, write_config(tmp_path / "config"), public_url="https://pager.example.com"
    )
    with session_scope(engine) as session:
        users.add_user(session, handle="alice", name="Alice", now=T0, sms="+15550000001")
        catalog.sync_services(session, built.config, T0)
    yield built


def subscribe(runtime: Runtime, url: str, events: list[str], format: str = "standard") -> tuple[int, str]:
    with session_scope(runtime.engine) as session:
        row = add_webhook(session, url, events, format, T0)
        assert row.id is not None
        return row.id, row.secret


def declare_and_resolve(runtime: Runtime) -> int:
    """Incident 7: declared, moved to identified, then resolved 90 minutes after declared."""
    with session_scope(runtime.engine) as session:
        incident = Incident(
            number=7,
            title="Checkout down",
            severity="SEV1",
            status="investigating",
            declared_by="alice",
            declared_at=T0,
            created_at=T0,
            updated_at=T0,
        )
        session.add(incident)
        session.flush()
        assert incident.id is not None
        add_incident_event(session, incident.id, T0, "declared", "alice", "SEV1 incident declared")
        add_incident_event(session, incident.id, T0, "note", "alice", "looking")
        moved = {"from": "investigating", "to": "identified"}
        add_incident_event(session, incident.id, T0, "status_changed", "alice", "moved", moved)
        incident.status, incident.resolved_at = "resolved", T0 + timedelta(minutes=90)
        session.add(incident)
        resolved = {"from": "identified", "to": "resolved"}
        add_incident_event(session, incident.id, T0, "status_changed", "alice", "resolved", resolved)
        return incident.id


def run_until(runtime: Runtime, start: float, end: float, step: float = 1.0) -> None:
    at = start
    while at <= end:
        tick(runtime, T0 + timedelta(seconds=at))
        at += step


def incident_lines(session: Session, incident_id: int, prefix: str) -> list[IncidentEvent]:
    query = select(IncidentEvent).where(IncidentEvent.incident_id == incident_id).order_by(IncidentEvent.id)
    return [e for e in session.exec(query) if e.kind.startswith(prefix)]


def test_signed_deliveries_are_retried_with_the_same_id_and_kept_in_order(runtime: Runtime) -> None:
    with receiver(answers=[500, 503]) as hook:  # retried after 1 s, then 2 s: a tick finds it waiting
        _, secret = subscribe(runtime, hook.url, INCIDENT_EVENTS)
        incident_id = declare_and_resolve(runtime)
        tick(runtime, T0 + timedelta(seconds=1))
        assert hook.requests == []  # entries younger than the settle time are not read yet
        run_until(runtime, 5, 30)
    verifier = Webhook(secret)
    for request in hook.requests:
        sent_at = datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), UTC)
        with freeze_time(sent_at):  # the library checks the timestamp against its own clock
            verifier.verify(request.body, request.headers)  # raises on a bad signature
    tampered = hook.requests[0].body.replace(b"Checkout", b"Checkin")
    with freeze_time(T0 + timedelta(seconds=5)), pytest.raises(WebhookVerificationError):
        verifier.verify(tampered, hook.requests[0].headers)
    ids = [r.headers["webhook-id"] for r in hook.requests]
    assert ids[0] == ids[1] == ids[2] and len(set(ids)) == 4
    types = [r.json()["type"] for r in hook.requests[2:]]
    assert types == [
        "incident.declared",
        "incident.status_changed",
        "incident.status_changed",
        "incident.resolved",
    ]
    resolved = hook.requests[-1].json()["data"]
    assert resolved["number"] == 7 and resolved["duration_s"] == 5400 and resolved["to"] == "resolved"
    with session_scope(runtime.engine, read_only=True) as session:
        kinds = [e.kind for e in incident_lines(session, incident_id, "webhook_")]
    assert kinds == ["webhook_retry"] * 2 + ["webhook_sent"] * 4


def test_alert_events_reach_slack_and_mattermost_as_incoming_webhook_messages(runtime: Runtime) -> None:
    with receiver() as slack, receiver() as mattermost:
        subscribe(runtime, slack.url, ["alert.triggered", "alert.acknowledged"], "slack")
        subscribe(runtime, mattermost.url, ["alert.triggered"], "mattermost")
        alert_id = alerts.trigger_alert(
            runtime, service_id="api", summary="Disk full", now=T0, dedup_key="d"
        ).alert_id
        alerts.act_on_alert(runtime, alert_id, "ack", by="alice", now=T0 + timedelta(seconds=1))
        run_until(runtime, 6, 10)
    slack_bodies = [r.json() for r in slack.requests]
    assert [set(b) for b in slack_bodies] == [{"text"}, {"text"}]
    assert "Disk full" in slack_bodies[0]["text"] and "acknowledged" in slack_bodies[1]["text"]
    assert f"Alert #{alert_id}" in slack_bodies[0]["text"]
    (body,) = [r.json() for r in mattermost.requests]
    assert body["username"] == "pager" and "triggered" in body["text"]
    with session_scope(runtime.engine, read_only=True) as session:
        query = select(TimelineEntry).where(TimelineEntry.alert_id == alert_id)
        kinds = [e.kind for e in session.exec(query)]
    assert kinds.count("webhook_sent") == 3


def test_a_receiver_that_always_fails_gets_its_subscription_paused_and_nothing_is_lost(
    runtime: Runtime,
) -> None:
    with receiver(then=500) as hook:
        subscription_id, _ = subscribe(runtime, hook.url, INCIDENT_EVENTS)
        declare_and_resolve(runtime)
        run_until(runtime, 5, 600, step=31)
        attempts = len(hook.requests)
        with session_scope(runtime.engine, read_only=True) as session:
            (row,) = list_webhooks(session)
            assert row.state == "paused" and row.paused_reason == "10 deliveries in a row failed"
            statuses = [d.status for d in session.exec(select(WebhookDelivery))]
        assert attempts == 10 and statuses == ["pending"] * 4
        run_until(runtime, 700, 800, step=31)
        assert len(hook.requests) == attempts  # paused: nothing more is tried
        hook.then = 200
        with session_scope(runtime.engine) as session:
            resume_webhook(session, subscription_id)
        run_until(runtime, 900, 910)
    types = [r.json()["type"] for r in hook.requests[attempts:]]
    assert types == [
        "incident.declared",
        "incident.status_changed",
        "incident.status_changed",
        "incident.resolved",
    ]
    with session_scope(runtime.engine, read_only=True) as session:
        assert session.get(WebhookSubscription, subscription_id).state == "active"  # type: ignore[union-attr]


def test_a_4xx_fails_the_delivery_for_good_and_the_next_event_goes(runtime: Runtime) -> None:
    with receiver(answers=[404]) as hook:
        subscribe(runtime, hook.url, INCIDENT_EVENTS)
        declare_and_resolve(runtime)
        run_until(runtime, 5, 12)
    types = [r.json()["type"] for r in hook.requests]
    assert types == [
        "incident.declared",
        "incident.status_changed",
        "incident.status_changed",
        "incident.resolved",
    ]
    with session_scope(runtime.engine, read_only=True) as session:
        statuses = [d.status for d in session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id))]
    assert statuses == ["failed", "sent", "sent", "sent"]


def test_a_delivery_left_sending_by_a_dead_worker_is_sent_again_after_its_lease(
    runtime: Runtime,
) -> None:
    def dies(message: object) -> WebhookOutcome:
        raise RuntimeError("worker killed mid-post")

    with receiver() as hook:
        subscribe(runtime, hook.url, ["incident.declared"])
        declare_and_resolve(runtime)
        queue_webhook_events(runtime, T0 + timedelta(seconds=5))
        with pytest.raises(RuntimeError):
            send_due_webhooks(runtime, T0 + timedelta(seconds=5), dies)
        run_until(runtime, 6, 60, step=9)
        assert hook.requests == []  # still within the lease: not sent twice at once
        run_until(runtime, 66, 66)
    (request,) = hook.requests
    assert request.json()["type"] == "incident.declared"


def test_without_subscribers_the_job_takes_no_write_lock_and_the_first_starts_from_now(
    runtime: Runtime,
) -> None:
    declare_and_resolve(runtime)  # history from before anyone subscribed
    writes: list[str] = []

    def count_writes(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if not statement.lstrip().upper().startswith(("SELECT", "BEGIN", "PRAGMA")):
            writes.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", count_writes)
    try:
        for second in (10, 11, 12):
            queue_webhook_events(runtime, T0 + timedelta(seconds=second))
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count_writes)
    assert writes == []  # nobody to tell: no cursor moved, no lock taken
    with receiver() as hook:
        subscribe(runtime, hook.url, INCIDENT_EVENTS)
        run_until(runtime, 13, 30)
    assert hook.requests == []  # the old incident is not replayed to the new subscriber
