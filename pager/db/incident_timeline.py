"""Queries of an incident's own timeline (`incident_timeline`): append a line, read them in order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from pager.db.incident_tables import IncidentEvent


def add_incident_event(
    session: Session,
    incident_id: int,
    at: datetime,
    kind: str,
    actor: str,
    message: str,
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    """Append one line to the incident's timeline in the caller's transaction."""
    event = IncidentEvent(
        incident_id=incident_id, at=at, kind=kind, actor=actor, message=message, data=data or {}
    )
    session.add(event)
    session.flush()
    return event


def incident_events_of(session: Session, incident_id: int) -> list[IncidentEvent]:
    """The incident's own timeline lines, oldest first (ties in the order they were written)."""
    query = (
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(col(IncidentEvent.at), col(IncidentEvent.id))
    )
    return list(session.exec(query))
