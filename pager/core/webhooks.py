"""Outgoing webhooks, the pure part (docs/integrations.md): event names, formats, checking a new
subscription, when a failing subscription is paused, and the order rule of its deliveries.

No I/O: `now` and random bytes are passed in.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args
from urllib.parse import urlsplit

WebhookFormat = Literal["standard", "slack", "mattermost"]
WEBHOOK_FORMATS: tuple[str, ...] = get_args(WebhookFormat)
WEBHOOK_STATES: tuple[str, ...] = ("active", "paused")
WEBHOOK_DELIVERY_STATUSES: tuple[str, ...] = ("pending", "sending", "sent", "failed")

ALERT_EVENTS: tuple[str, ...] = (
    "alert.triggered",
    "alert.acknowledged",
    "alert.resolved",
    "alert.escalated",
)
INCIDENT_EVENTS: tuple[str, ...] = (
    "incident.declared",
    "incident.severity_changed",
    "incident.status_changed",
    "incident.role_assigned",
    "incident.update_posted",
    "incident.resolved",
    "incident.postmortem_published",
    "incident.action_item_created",
)
WEBHOOK_EVENTS: tuple[str, ...] = ALERT_EVENTS + INCIDENT_EVENTS

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
PAUSE_AFTER_FAILURES = 10
PAUSE_AFTER_FAILING_FOR = timedelta(hours=24)


class WebhookInputError(ValueError):
    """A subscription that cannot be stored; the message names the problem."""


@dataclass(frozen=True)
class SubscriptionRequest:
    """A checked new subscription."""

    url: str
    events: tuple[str, ...]
    format: WebhookFormat


def check_subscription(url: str, events: Iterable[str], format: str) -> SubscriptionRequest:
    """Check a new subscription's URL, event names and format; raise WebhookInputError naming the problem."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:  # e.g. an unclosed [IPv6 bracket
        host = None
    if host is None or parts.scheme not in ("http", "https") or any(c.isspace() for c in url.strip()):
        raise WebhookInputError(f"url {url!r}: an http:// or https:// URL with a host is required")
    names = tuple(dict.fromkeys(name.strip() for name in events if name.strip()))
    if not names:
        raise WebhookInputError(f"events: at least one is required (known: {', '.join(WEBHOOK_EVENTS)})")
    unknown = [name for name in names if name not in WEBHOOK_EVENTS]
    if unknown:
        raise WebhookInputError(f"unknown event {', '.join(unknown)} (known: {', '.join(WEBHOOK_EVENTS)})")
    if format not in WEBHOOK_FORMATS:
        raise WebhookInputError(f"unknown format {format!r} (known: {', '.join(WEBHOOK_FORMATS)})")
    return SubscriptionRequest(url=url.strip(), events=names, format=format)  # type: ignore[arg-type]


def signing_secret(random_bytes: bytes) -> str:
    """The signing secret as the Standard Webhooks spec writes it: `whsec_` + base64 of the key."""
    if len(random_bytes) < SECRET_BYTES:
        raise ValueError(f"a signing key needs {SECRET_BYTES} random bytes or more")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode("ascii")


@dataclass(frozen=True)
class PauseDecision:
    """Whether a subscription is to be paused after a failure, and why."""

    pause: bool
    reason: str


def after_failure(consecutive_failures: int, failing_since: datetime | None, now: datetime) -> PauseDecision:
    """Pause after PAUSE_AFTER_FAILURES failures in a row, or when it has failed for 24 h with no success.

    `consecutive_failures` counts the failure just recorded; `failing_since` is the first of them.
    """
    if consecutive_failures >= PAUSE_AFTER_FAILURES:
        return PauseDecision(True, f"{consecutive_failures} deliveries in a row failed")
    if failing_since is not None and now - failing_since >= PAUSE_AFTER_FAILING_FOR:
        return PauseDecision(True, "every delivery failed for 24 hours")
    return PauseDecision(False, "")


@dataclass(frozen=True)
class QueuedDelivery:
    """A webhook delivery not yet settled: its subscription, the thing it is about, its place in order."""

    id: int
    subscription_id: int
    subject: str  # "incident:<id>" or "alert:<id>"
    sequence: int  # the timeline entry's id: lower is earlier (then the delivery's id)


def in_order_sendable(candidates: Iterable[QueuedDelivery], unsettled: Iterable[QueuedDelivery]) -> list[int]:
    """The candidates that may be sent now: none while an earlier delivery of the same subject to the
    same subscription is unsettled (pending, sending or retrying), and one per (subscription, subject).
    """
    earliest: dict[tuple[int, str], tuple[int, int]] = {}
    for row in unsettled:
        key = (row.subscription_id, row.subject)
        place = (row.sequence, row.id)
        earliest[key] = min(earliest.get(key, place), place)
    chosen: dict[tuple[int, str], QueuedDelivery] = {}
    for row in candidates:
        key = (row.subscription_id, row.subject)
        place = (row.sequence, row.id)
        if place > earliest.get(key, place):
            continue
        if key not in chosen or place < (chosen[key].sequence, chosen[key].id):
            chosen[key] = row
    return sorted(row.id for row in chosen.values())


# Timeline kinds → webhook events (docs/integrations.md has the table). Kinds not here send nothing.
ALERT_KIND_EVENTS: dict[str, tuple[str, ...]] = {
    "triggered": ("alert.triggered",),
    "retriggered": ("alert.triggered",),
    "acknowledged": ("alert.acknowledged",),
    "resolved": ("alert.resolved",),
    "auto_resolved": ("alert.resolved",),
    "escalated": ("alert.escalated",),
}
INCIDENT_KIND_EVENTS: dict[str, tuple[str, ...]] = {
    "declared": ("incident.declared",),
    "severity_changed": ("incident.severity_changed",),
    "status_changed": ("incident.status_changed",),
    "role_assigned": ("incident.role_assigned",),
    "role_handed_over": ("incident.role_assigned",),
    "update": ("incident.update_posted",),
    "update_posted": ("incident.update_posted",),
    "postmortem_published": ("incident.postmortem_published",),
    "action_item_created": ("incident.action_item_created",),
    "action_item_added": ("incident.action_item_created",),
}


def events_of_entry(timeline: str, kind: str, data: dict[str, object]) -> tuple[str, ...]:
    """The webhook events one timeline entry stands for (a move to `resolved` is also incident.resolved)."""
    if timeline == "alert_timeline":
        return ALERT_KIND_EVENTS.get(kind, ())
    events = INCIDENT_KIND_EVENTS.get(kind, ())
    if kind == "status_changed" and data.get("to") == "resolved":
        events = (*events, "incident.resolved")
    return events


def settled_prefix(instants: Iterable[datetime], now: datetime, settle: timedelta) -> int:
    """How many entries (in id order) may be read: those up to the first written less than `settle` ago.

    On Postgres ids come from a sequence and transactions commit out of order, so a row with a lower
    id can become visible after a higher one; stopping at the first young entry, and reading only
    entries older than `settle`, leaves every transaction that long to commit before its place is passed.
    """
    count = 0
    for instant in instants:
        if now - instant < settle:
            break
        count += 1
    return count
