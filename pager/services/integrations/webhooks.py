"""Outgoing webhook subscriptions (docs/integrations.md): add, list, remove, resume.

Each function works in the caller's session (the command or API route opens one transaction).
The signing secret is returned once by `add_webhook` and never logged.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlmodel import Session

from pager.core.webhooks import SECRET_BYTES, WebhookInputError, check_subscription, signing_secret
from pager.db.webhook_tables import WebhookSubscription
from pager.db.webhooks import (
    active_subscriptions,
    add_subscription,
    delete_subscription,
    find_subscription,
    move_cursor,
    newest_timeline_ids,
    subscriptions_in_id_order,
)
from pager.services.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)


def add_webhook(
    session: Session, url: str, events: Iterable[str], format: str, now: datetime
) -> WebhookSubscription:
    """Store a new subscription with a fresh signing secret; bad input raises InvalidInput, nothing stored."""
    try:
        request = check_subscription(url, events, format)
    except WebhookInputError as error:
        raise InvalidInput(str(error)) from error
    if not active_subscriptions(session):
        # The event job leaves its cursors alone while nobody subscribes: the first subscriber's
        # events start now, not with the history since the last one left.
        alerts_newest, incidents_newest = newest_timeline_ids(session)
        move_cursor(session, "alert_timeline", alerts_newest)
        move_cursor(session, "incident_timeline", incidents_newest)
    row = WebhookSubscription(
        url=request.url,
        events=list(request.events),
        format=request.format,
        secret=signing_secret(secrets.token_bytes(SECRET_BYTES)),
        created_at=now,
    )
    add_subscription(session, row)
    log.info(
        "webhook_added id=%s url=%s events=%s format=%s", row.id, row.url, ",".join(row.events), row.format
    )
    return row


def list_webhooks(session: Session) -> Sequence[WebhookSubscription]:
    """Every subscription, paused ones included."""
    return subscriptions_in_id_order(session)


def remove_webhook(session: Session, subscription_id: int) -> None:
    """Delete a subscription."""
    delete_subscription(session, _existing(session, subscription_id))
    log.info("webhook_removed id=%s", subscription_id)


def resume_webhook(session: Session, subscription_id: int) -> WebhookSubscription:
    """Make a paused subscription active again: its kept deliveries go out, in order."""
    row = _existing(session, subscription_id)
    row.state = "active"
    row.paused_reason = None
    row.paused_at = None
    row.consecutive_failures = 0
    row.failing_since = None
    session.add(row)
    session.flush()
    log.info("webhook_resumed id=%s", subscription_id)
    return row


def _existing(session: Session, subscription_id: int) -> WebhookSubscription:
    row = find_subscription(session, subscription_id)
    if row is None:
        raise NotFound(f"no webhook subscription {subscription_id}")
    return row
