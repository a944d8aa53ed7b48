"""What a postmortem is written from, read from the incident tables, the alerts and the outbox:
the incident, its services, role history, linked alerts and their timelines, the pages sent for it.
The caller owns the session.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, or_, select

from pager.db.incident_tables import Incident, IncidentAlert, IncidentRoleAssignment, IncidentService
from pager.db.tables import Alert, OutboxMessage, TimelineEntry, User


def incident_by_id(session: Session, incident_id: int, *, lock: bool = False) -> Incident | None:
    """Incident `incident_id` (None: no such incident); `lock` locks it until commit."""
    query = select(Incident).where(Incident.id == incident_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.exec(query).first()


def service_ids_of(session: Session, incident_id: int) -> list[str]:
    """The services the incident affects, by id."""
    query = (
        select(IncidentService.service_id)
        .where(IncidentService.incident_id == incident_id)
        .order_by(col(IncidentService.service_id))
    )
    return list(session.exec(query))


def role_history_of(session: Session, incident_id: int) -> list[tuple[IncidentRoleAssignment, User]]:
    """Every role assignment of the incident (ended ones too) with its person, oldest first."""
    query = (
        select(IncidentRoleAssignment, User)
        .join(User, col(User.id) == col(IncidentRoleAssignment.user_id))
        .where(IncidentRoleAssignment.incident_id == incident_id)
        .order_by(col(IncidentRoleAssignment.started_at), col(IncidentRoleAssignment.id))
    )
    return [(assignment, user) for assignment, user in session.exec(query)]


def current_holder(session: Session, incident_id: int, role: str) -> User | None:
    """Who holds `role` of the incident now (for a role many hold, the one who took it last)."""
    query = (
        select(User)
        .join(IncidentRoleAssignment, col(User.id) == col(IncidentRoleAssignment.user_id))
        .where(
            IncidentRoleAssignment.incident_id == incident_id,
            IncidentRoleAssignment.role == role,
            col(IncidentRoleAssignment.ended_at).is_(None),
        )
        .order_by(col(IncidentRoleAssignment.started_at).desc(), col(IncidentRoleAssignment.id).desc())
    )
    return session.exec(query).first()


def linked_alerts_of(session: Session, incident_id: int) -> list[Alert]:
    """The alerts linked to the incident, by id."""
    query = (
        select(Alert)
        .join(IncidentAlert, col(IncidentAlert.alert_id) == col(Alert.id))
        .where(IncidentAlert.incident_id == incident_id)
        .order_by(col(Alert.id))
    )
    return list(session.exec(query))


def alert_timelines_of(session: Session, alert_ids: Sequence[int]) -> list[TimelineEntry]:
    """The timeline entries of these alerts, in order of instant."""
    if not alert_ids:
        return []
    query = (
        select(TimelineEntry)
        .where(col(TimelineEntry.alert_id).in_(list(alert_ids)))
        .order_by(col(TimelineEntry.at), col(TimelineEntry.id))
    )
    return list(session.exec(query))


def pages_for(session: Session, alert_ids: Sequence[int], key_prefixes: Sequence[str]) -> list[OutboxMessage]:
    """Outbox rows of these alerts, and notices whose key starts with one of `key_prefixes`, in the
    order they were due."""
    conditions = [col(OutboxMessage.idempotency_key).startswith(p, autoescape=True) for p in key_prefixes]
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


def user_by_id(session: Session, user_id: int) -> User | None:
    """User `user_id` (None: no such user)."""
    return session.get(User, user_id)
