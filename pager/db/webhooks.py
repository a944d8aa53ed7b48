"""Queries on the webhook tables (pager/db/webhook_tables.py). The caller owns the session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from pager.db.incident_tables import Incident, IncidentEvent, IncidentRoleAssignment
from pager.db.session import is_postgres
from pager.db.tables import Alert, TimelineEntry, User
from pager.db.webhook_tables import WebhookCursor, WebhookDelivery, WebhookSubscription


def add_subscription(session: Session, row: WebhookSubscription) -> WebhookSubscription:
    """Insert a subscription and flush, so its id is known."""
    session.add(row)
    session.flush()
    return row


def subscriptions_in_id_order(session: Session) -> Sequence[WebhookSubscription]:
    """Every subscription, oldest first."""
    return session.exec(select(WebhookSubscription).order_by(col(WebhookSubscription.id))).all()


def active_subscriptions(session: Session) -> Sequence[WebhookSubscription]:
    """The subscriptions deliveries are queued for (paused ones keep theirs, queue none new)."""
    statement = select(WebhookSubscription).where(WebhookSubscription.state == "active")
    return session.exec(statement.order_by(col(WebhookSubscription.id))).all()


def find_subscription(session: Session, subscription_id: int) -> WebhookSubscription | None:
    """One subscription, or None."""
    return session.get(WebhookSubscription, subscription_id)


def delete_subscription(session: Session, row: WebhookSubscription) -> None:
    """Delete one subscription."""
    session.delete(row)
    session.flush()


def cursor_position(session: Session, timeline: str) -> int:
    """The last timeline id the event job has turned into deliveries (0 before the first pass)."""
    row = session.get(WebhookCursor, timeline)
    return row.last_id if row is not None else 0


def move_cursor(session: Session, timeline: str, last_id: int) -> None:
    """Record that every entry of `timeline` up to `last_id` is dealt with."""
    row = session.get(WebhookCursor, timeline)
    if row is None:
        session.add(WebhookCursor(timeline=timeline, last_id=last_id))
    else:
        row.last_id = last_id
        session.add(row)
    session.flush()


def alert_entries_after(session: Session, after_id: int, limit: int) -> Sequence[TimelineEntry]:
    """Alert timeline entries with an id above `after_id`, in id order."""
    statement = select(TimelineEntry).where(col(TimelineEntry.id) > after_id)
    return session.exec(statement.order_by(col(TimelineEntry.id)).limit(limit)).all()


def incident_entries_after(session: Session, after_id: int, limit: int) -> Sequence[IncidentEvent]:
    """Incident timeline entries with an id above `after_id`, in id order."""
    statement = select(IncidentEvent).where(col(IncidentEvent.id) > after_id)
    return session.exec(statement.order_by(col(IncidentEvent.id)).limit(limit)).all()


def add_deliveries(session: Session, rows: list[WebhookDelivery]) -> None:
    """Queue deliveries (flush)."""
    session.add_all(rows)
    session.flush()


def unsettled_deliveries(session: Session) -> Sequence[WebhookDelivery]:
    """Deliveries pending or being sent, of active subscriptions, oldest event first.

    Locked on Postgres, without SKIP LOCKED: a second worker's claim waits for the first to commit,
    so it sees the rows the first marked `sending` and keeps each subject's order.
    """
    statement = (
        select(WebhookDelivery)
        .join(WebhookSubscription, col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id))
        .where(col(WebhookDelivery.status).in_(("pending", "sending")), WebhookSubscription.state == "active")
        .order_by(col(WebhookDelivery.sequence), col(WebhookDelivery.id))
    )
    if is_postgres(session):
        statement = statement.with_for_update(of=WebhookDelivery)
    return session.exec(statement).all()


def deliveries_of(session: Session, subscription_id: int) -> Sequence[WebhookDelivery]:
    """Every delivery of one subscription, in id order."""
    statement = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    return session.exec(statement.order_by(col(WebhookDelivery.id))).all()


def find_delivery(session: Session, delivery_id: int) -> WebhookDelivery | None:
    """One delivery, or None."""
    return session.get(WebhookDelivery, delivery_id)


def save(session: Session, row: Any) -> None:
    """Write back a changed row (flush)."""
    session.add(row)
    session.flush()


def alert_facts(session: Session, alert_id: int) -> dict[str, Any]:
    """What a webhook says about an alert besides the event: its summary, service, status."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        return {"alert_id": alert_id}
    return {
        "alert_id": alert_id,
        "service": alert.service_id,
        "summary": alert.summary,
        "status": alert.status,
    }


def incident_facts(session: Session, incident_id: int) -> dict[str, Any]:
    """What a webhook says about an incident besides the event: number, title, severity, status,
    drill, commander, and once resolved how long it lasted (from impact start when set, else declared).
    """
    incident = session.get(Incident, incident_id)
    if incident is None:
        return {"incident_id": incident_id}
    commander = session.exec(
        select(User.handle)
        .join(IncidentRoleAssignment, col(IncidentRoleAssignment.user_id) == col(User.id))
        .where(
            IncidentRoleAssignment.incident_id == incident_id,
            IncidentRoleAssignment.role == "commander",
            col(IncidentRoleAssignment.ended_at).is_(None),
        )
    ).first()
    facts: dict[str, Any] = {
        "incident_id": incident_id,
        "number": incident.number,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "drill": incident.drill,
        "commander": commander,
    }
    if incident.resolved_at is not None:
        start = incident.impact_started_at or incident.declared_at
        facts["duration_s"] = int((incident.resolved_at - start).total_seconds())
    return facts


def newest_timeline_ids(session: Session) -> tuple[int, int]:
    """The highest id in alert_timeline and in incident_timeline (0 when empty)."""
    alert = session.exec(select(func.max(TimelineEntry.id))).one()
    incident = session.exec(select(func.max(IncidentEvent.id))).one()
    return alert or 0, incident or 0


def any_delivery_due(session: Session, now: datetime) -> bool:
    """Whether a delivery of an active subscription is pending (or its sending lease ran out) at `now`."""
    statement = (
        select(WebhookDelivery.id)
        .join(WebhookSubscription, col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id))
        .where(
            col(WebhookDelivery.status).in_(("pending", "sending")),
            WebhookSubscription.state == "active",
            col(WebhookDelivery.next_attempt_at) <= now,
        )
        .limit(1)
    )
    return session.exec(statement).first() is not None
