"""Incident rows for the postmortem and action-item tests, written straight to the tables (the record's
own services — declare, roles, resolve — are tested with them; these tests start from their result)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from pager.db.incident_tables import Incident, IncidentAlert, IncidentRoleAssignment, IncidentService
from pager.db.users import find_user_by_handle


def insert_incident(
    session: Session,
    *,
    number: int,
    declared_at: datetime,
    title: str = "Checkout errors",
    severity: str = "SEV1",
    status: str = "resolved",
    declared_by: str = "alice",
    drill: bool = False,
    services: tuple[str, ...] = ("api",),
    **milestones: datetime,
) -> Incident:
    """An incident with these milestones (`resolved_at=...`), linked to `services`."""
    incident = Incident(
        number=number,
        title=title,
        severity=severity,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        drill=drill,
        customer_impact=True,
        declared_by=declared_by,
        declared_at=declared_at,
        created_at=declared_at,
        updated_at=declared_at,
        **milestones,  # type: ignore[arg-type]
    )
    session.add(incident)
    session.flush()
    assert incident.id is not None
    for service in services:
        session.add(IncidentService(incident_id=incident.id, service_id=service))
    session.flush()
    return incident


def assign(
    session: Session,
    incident: Incident,
    role: str,
    handle: str,
    at: datetime,
    *,
    until: datetime | None = None,
    reason: str = "",
) -> IncidentRoleAssignment:
    """`handle` holds `role` from `at` (until `until`)."""
    user = find_user_by_handle(session, handle)
    assert user is not None and incident.id is not None
    row = IncidentRoleAssignment(
        incident_id=incident.id,
        role=role,  # type: ignore[arg-type]
        user_id=user.id or 0,
        started_at=at,
        ended_at=until,
        assigned_by="alice",
        reason=reason,
        ended_by="alice" if until else None,
    )
    session.add(row)
    session.flush()
    return row


def link_alert(session: Session, incident: Incident, alert_id: int, at: datetime) -> None:
    """Link alert `alert_id` to the incident."""
    assert incident.id is not None
    session.add(IncidentAlert(incident_id=incident.id, alert_id=alert_id, linked_at=at, linked_by="alice"))
    session.flush()
