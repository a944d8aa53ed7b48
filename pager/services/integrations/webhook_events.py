"""The event job: turns new alert and incident timeline entries into webhook deliveries
(docs/integrations.md). Nothing is added to the trigger path: the worker tails both timelines.

Each pass reads entries past a durable cursor (table `webhook_cursors`), only those written at least
SETTLE ago and only up to the first younger one (ids can commit out of order on Postgres), and in one
transaction queues one delivery per matching active subscription and moves the cursor.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from pager.core.webhooks import events_of_entry, settled_prefix
from pager.db.session import session_scope
from pager.db.webhook_tables import WebhookDelivery, WebhookSubscription
from pager.db.webhooks import (
    active_subscriptions,
    add_deliveries,
    alert_entries_after,
    alert_facts,
    cursor_position,
    incident_entries_after,
    incident_facts,
    move_cursor,
    newest_timeline_ids,
)
from pager.services.runtime import Runtime

log = logging.getLogger(__name__)

SETTLE = timedelta(seconds=5)
BATCH = 500


def queue_webhook_events(runtime: Runtime, now: datetime) -> int:
    """One pass over both timelines; the number of deliveries queued.

    A read-only look first: with no active subscription or nothing new, no write transaction (on
    SQLite the writer lock) is taken.
    """
    with session_scope(runtime.engine, read_only=True) as session:
        if not active_subscriptions(session):
            # Nobody to tell: the cursors stay (the first subscription moves them to the newest
            # entries), and the worker takes no write lock and reads no timeline every second.
            return 0
        newest = newest_timeline_ids(session)
        read = (cursor_position(session, "alert_timeline"), cursor_position(session, "incident_timeline"))
    if newest[0] <= read[0] and newest[1] <= read[1]:
        return 0
    with session_scope(runtime.engine) as session:
        subscriptions = list(active_subscriptions(session))
        queued = _alert_pass(session, subscriptions, now) + _incident_pass(session, subscriptions, now)
    if queued:
        log.info("webhook_events_queued count=%d", queued)
    return queued


def _alert_pass(session: Session, subscriptions: list[WebhookSubscription], now: datetime) -> int:
    cursor = cursor_position(session, "alert_timeline")
    entries = list(alert_entries_after(session, cursor, BATCH))
    entries = entries[: settled_prefix((e.at for e in entries), now, SETTLE)]
    rows: list[WebhookDelivery] = []
    for entry in entries:
        assert entry.id is not None
        events = events_of_entry("alert_timeline", entry.kind, entry.data)
        if not events:
            continue
        facts = alert_facts(session, entry.alert_id)
        data = {**facts, "kind": entry.kind, "message": entry.message, **entry.data}
        for event in events:
            for row in _deliveries(subscriptions, event, f"alert:{entry.alert_id}", entry.id, entry.at, data):
                row.alert_id = entry.alert_id
                rows.append(row)
    return _apply(session, "alert_timeline", entries[-1].id if entries else None, rows)


def _incident_pass(session: Session, subscriptions: list[WebhookSubscription], now: datetime) -> int:
    cursor = cursor_position(session, "incident_timeline")
    entries = list(incident_entries_after(session, cursor, BATCH))
    entries = entries[: settled_prefix((e.at for e in entries), now, SETTLE)]
    rows: list[WebhookDelivery] = []
    for entry in entries:
        assert entry.id is not None
        events = events_of_entry("incident_timeline", entry.kind, entry.data)
        if not events:
            continue
        facts = incident_facts(session, entry.incident_id)
        data = {**facts, "kind": entry.kind, "actor": entry.actor, "message": entry.message, **entry.data}
        for event in events:
            for row in _deliveries(
                subscriptions, event, f"incident:{entry.incident_id}", entry.id, entry.at, data
            ):
                row.incident_id = entry.incident_id
                rows.append(row)
    return _apply(session, "incident_timeline", entries[-1].id if entries else None, rows)


def _deliveries(
    subscriptions: list[WebhookSubscription],
    event: str,
    subject: str,
    sequence: int,
    at: datetime,
    data: dict[str, Any],
) -> list[WebhookDelivery]:
    kind = subject.split(":", 1)[0]
    return [
        WebhookDelivery(
            subscription_id=s.id,
            message_id=f"msg_{kind}{sequence}_{event.split('.', 1)[1]}_{s.id}",
            event_type=event,
            subject=subject,
            sequence=sequence,
            event_at=at,
            data=data,
            next_attempt_at=at,
            created_at=at,
        )
        for s in subscriptions
        if s.id is not None and event in s.events
    ]


def _apply(session: Session, timeline: str, last_id: int | None, rows: list[WebhookDelivery]) -> int:
    if last_id is None:
        return 0
    add_deliveries(session, rows)
    move_cursor(session, timeline, last_id)
    return len(rows)
