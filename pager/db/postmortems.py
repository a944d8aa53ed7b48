"""Postmortem rows (table `postmortems`, one per incident). The caller owns the session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, or_, select

from pager.db.columns import key_starts_with
from pager.db.incident_tables import Incident, Postmortem
from pager.db.row_updates import add_unless_taken
from pager.db.tables import OutboxMessage


def postmortem_of_incident(session: Session, incident_id: int, *, lock: bool = False) -> Postmortem | None:
    """The incident's postmortem (None: not opened yet); `lock` locks it until commit."""
    query = select(Postmortem).where(Postmortem.incident_id == incident_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.exec(query).first()


def insert_postmortem(
    session: Session, *, incident_id: int, body: str, due_at: datetime, now: datetime
) -> Postmortem | None:
    """Store the incident's draft postmortem; None (and nothing changed) when another transaction
    stored one first (the incident's postmortem is unique)."""
    row = Postmortem(
        incident_id=incident_id, status="draft", body=body, due_at=due_at, created_at=now, updated_at=now
    )
    return add_unless_taken(session, row)


def unpublished_postmortems_due(session: Session, now: datetime) -> list[tuple[Postmortem, Incident]]:
    """Postmortems due at or before `now` and not published, with their incidents, oldest due first."""
    query = (
        select(Postmortem, Incident)
        .join(Incident, col(Incident.id) == col(Postmortem.incident_id))
        .where(col(Postmortem.due_at) <= now, Postmortem.status != "published")
        .order_by(col(Postmortem.due_at), col(Postmortem.id))
    )
    return [(postmortem, incident) for postmortem, incident in session.exec(query)]


def pages_for(session: Session, alert_ids: Sequence[int], key_prefixes: Sequence[str]) -> list[OutboxMessage]:
    """Outbox rows of these alerts, and notices whose key starts with one of `key_prefixes` (the
    incident's role pages, overdue-update pages, postmortem reminders), in the order they were due."""
    conditions = [key_starts_with(col(OutboxMessage.idempotency_key), p) for p in key_prefixes]
    if alert_ids:
        conditions.append(col(OutboxMessage.alert_id).in_(list(alert_ids)))
    if not conditions:
        return []
    query = (
        select(OutboxMessage)
        .where(or_(*conditions))
        .order_by(col(OutboxMessage.due_at), col(OutboxMessage.id))
    )
    return list(session.exec(query))
