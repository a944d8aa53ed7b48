"""Sending webhook deliveries (docs/integrations.md): claim (load, decide, apply), post outside any
transaction, record the outcomes with a line on the alert's or incident's timeline for each attempt.

Retries reuse the outbox's backoff (1 s, 2 s, 4 s … capped at 30 s) and never give up on a delivery
that can still succeed; a subscription failing 10 times in a row, or for 24 hours, is paused with
its queued deliveries kept, and `pager webhook resume` sends them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from pager.adapters.webhook_sender import WebhookMessage, WebhookOutcome, post_webhook
from pager.core.webhook_messages import mattermost_body, slack_body, standard_body
from pager.core.webhooks import QueuedDelivery, after_failure, in_order_sendable
from pager.db.alerts import add_timeline_entry
from pager.db.incident_timeline import add_incident_event
from pager.db.session import session_scope
from pager.db.webhook_tables import WebhookDelivery
from pager.db.webhooks import any_delivery_due, find_delivery, find_subscription, save, unsettled_deliveries
from pager.services.delivery.outcomes import backoff
from pager.services.integrations.webhook_events import queue_webhook_events
from pager.services.runtime import Runtime

log = logging.getLogger(__name__)

Poster = Callable[[WebhookMessage], WebhookOutcome]


@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    message: WebhookMessage


WEBHOOKS_EVERY = timedelta(seconds=1)
SENDING_LEASE = timedelta(seconds=60)  # longer than the post's timeout


def run_webhooks(runtime: Runtime, now: datetime, post: Poster = post_webhook) -> int:
    """The worker's webhook job: queue new timeline events, then send what is due; the number sent."""
    queue_webhook_events(runtime, now)
    return send_due_webhooks(runtime, now, post)


def send_due_webhooks(runtime: Runtime, now: datetime, post: Poster = post_webhook) -> int:
    """Claim due deliveries (in order per subject and subscription), post them, record the outcomes.

    Returns the number sent.
    """
    with session_scope(runtime.engine, read_only=True) as session:
        if not any_delivery_due(session, now):
            return 0  # no write transaction (on SQLite the writer lock) for nothing
    with session_scope(runtime.engine) as session:
        claimed = _claim(session, now, runtime.settings.public_url)
    outcomes = [(item.delivery_id, post(item.message)) for item in claimed]
    if not outcomes:
        return 0
    with session_scope(runtime.engine) as session:
        for delivery_id, outcome in outcomes:
            _record(session, delivery_id, outcome, now)
    return sum(1 for _, outcome in outcomes if outcome.kind == "sent")


def _claim(session: Session, now: datetime, public_url: str) -> list[_Claimed]:
    unsettled = list(unsettled_deliveries(session))
    # A `sending` row past its lease was left by a worker that died mid-post: sent again, same id.
    due = [row for row in unsettled if row.next_attempt_at <= now]
    chosen = set(in_order_sendable((_queued(r) for r in due), (_queued(r) for r in unsettled)))
    claimed: list[_Claimed] = []
    for row in due:
        if row.id not in chosen:
            continue
        subscription = find_subscription(session, row.subscription_id)
        assert subscription is not None and row.id is not None
        row.status = "sending"
        row.attempts += 1
        row.next_attempt_at = now + SENDING_LEASE
        save(session, row)
        data = {**row.data, **_links(row, public_url)}
        body = {
            "standard": standard_body(row.event_type, row.event_at, data),
            "slack": slack_body(row.event_type, data),
            "mattermost": mattermost_body(row.event_type, data),
        }[subscription.format]
        message = WebhookMessage(
            subscription.url, subscription.format, subscription.secret, row.message_id, now, body
        )
        claimed.append(_Claimed(row.id, message))
    return claimed


def _record(session: Session, delivery_id: int, outcome: WebhookOutcome, now: datetime) -> None:
    row = find_delivery(session, delivery_id)
    if row is None:  # its subscription was removed meanwhile
        return
    subscription = find_subscription(session, row.subscription_id)
    assert subscription is not None
    what = f"webhook {subscription.id} {row.event_type} attempt {row.attempts}"
    if outcome.kind == "sent":
        row.status = "sent"
        row.last_error = None
        subscription.consecutive_failures = 0
        subscription.failing_since = None
        _timeline(session, row, now, "webhook_sent", f"{what} delivered ({outcome.detail})")
    else:
        row.last_error = outcome.detail[:500]
        subscription.consecutive_failures += 1
        subscription.failing_since = subscription.failing_since or now
        if outcome.kind == "permanent":
            row.status = "failed"
            _timeline(session, row, now, "webhook_failed", f"{what} failed for good: {outcome.detail}")
        else:
            wait = backoff(row.attempts)
            row.status = "pending"
            row.next_attempt_at = now + wait
            retry = f"retrying in {int(wait.total_seconds())}s"
            _timeline(session, row, now, "webhook_retry", f"{what} failed: {outcome.detail}; {retry}")
        decision = after_failure(subscription.consecutive_failures, subscription.failing_since, now)
        if decision.pause and subscription.state == "active":
            subscription.state = "paused"
            subscription.paused_reason = decision.reason
            subscription.paused_at = now
            log.warning(
                "webhook_paused id=%s url=%s reason=%s", subscription.id, subscription.url, decision.reason
            )
    save(session, row)
    save(session, subscription)


def _timeline(session: Session, row: WebhookDelivery, now: datetime, kind: str, message: str) -> None:
    data = {"webhook": row.subscription_id, "event": row.event_type, "webhook_id": row.message_id}
    if row.incident_id is not None:
        add_incident_event(session, row.incident_id, now, kind, "system", message, data)
    elif row.alert_id is not None:
        add_timeline_entry(session, alert_id=row.alert_id, at=now, kind=kind, message=message, data=data)
    log.info("%s delivery=%s %s", kind, row.id, message)


def _queued(row: WebhookDelivery) -> QueuedDelivery:
    assert row.id is not None
    return QueuedDelivery(row.id, row.subscription_id, row.subject, row.sequence)


def _links(row: WebhookDelivery, public_url: str) -> dict[str, str]:
    base = public_url.rstrip("/")
    if row.incident_id is not None:
        return {"url": f"{base}/api/v1/incidents/{row.data.get('number', row.incident_id)}"}
    if row.alert_id is not None:
        return {"url": f"{base}/api/v1/alerts/{row.alert_id}"}
    return {}
