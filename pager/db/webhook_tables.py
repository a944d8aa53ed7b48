"""Outgoing webhook tables (docs/integrations.md): subscriptions, their deliveries, and the cursor of
the job that turns timeline entries into deliveries.

Registered on SQLModel.metadata by pager/db/tables.py; migration 0013_webhooks creates them.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from pager.core.webhooks import WEBHOOK_DELIVERY_STATUSES, WEBHOOK_FORMATS, WEBHOOK_STATES
from pager.db.columns import created_field, instant_field, json_document, one_of, optional_instant_field


class WebhookSubscription(SQLModel, table=True):
    """One subscriber. `secret` is the Standard Webhooks signing secret (`whsec_…`): kept as the
    spec needs it to sign, shown once on creation and never again, never logged.
    """

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (one_of("format", WEBHOOK_FORMATS), one_of("state", WEBHOOK_STATES))

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list, sa_type=json_document())
    format: str = Field(sa_type=String(16))
    secret: str = Field(max_length=100)
    state: str = Field(default="active", sa_type=String(16))
    paused_reason: str | None = Field(default=None, max_length=500)
    paused_at: datetime | None = optional_instant_field()
    consecutive_failures: int = 0
    failing_since: datetime | None = optional_instant_field()
    created_at: datetime = created_field()


class WebhookCursor(SQLModel, table=True):
    """How far the event job has read one timeline (`alert_timeline` or `incident_timeline`)."""

    __tablename__ = "webhook_cursors"

    timeline: str = Field(primary_key=True, max_length=32)
    last_id: int = 0


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription: pending until sent, retried with backoff, never dropped.

    `message_id` is the `webhook-id` header, the same on every retry. `subject` (`alert:<id>` or
    `incident:<id>`) and `sequence` (the timeline entry's id) keep each subject's events in order.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("message_id"),
        Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
        one_of("status", WEBHOOK_DELIVERY_STATUSES),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: int = Field(foreign_key="webhook_subscriptions.id", ondelete="CASCADE", index=True)
    message_id: str = Field(max_length=100)
    event_type: str = Field(max_length=64)
    subject: str = Field(max_length=64)
    sequence: int
    alert_id: int | None = None
    incident_id: int | None = None
    event_at: datetime = instant_field()
    data: dict[str, Any] = Field(default_factory=dict, sa_type=json_document())
    status: str = Field(default="pending", sa_type=String(16))
    attempts: int = 0
    next_attempt_at: datetime = instant_field()
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_field()
