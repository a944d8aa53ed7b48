"""Queries of status updates (`incident_updates`) and of the overdue-update timer
(`incidents.next_update_due_at`, the pages queued for it in the outbox). The caller owns the session."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from pager.core.incident_model import OPEN_STATUSES
from pager.db.backlog import aware
from pager.db.columns import key_starts_with
from pager.db.incident_tables import Incident, IncidentEvent, IncidentRoleAssignment, StatusUpdate
from pager.db.tables import OutboxMessage, User


def add_status_update_row(
    session: Session,
    incident_id: int,
    *,
    at: datetime,
    author: str,
    message: str,
    public: bool,
    status: str | None,
) -> StatusUpdate:
    """Store one status update in the caller's transaction."""
    row = StatusUpdate(
        incident_id=incident_id, at=at, author=author, message=message, public=public, status=status
    )
    session.add(row)
    session.flush()
    return row


def status_updates_of(session: Session, incident_id: int) -> list[StatusUpdate]:
    """The incident's status updates, oldest first."""
    query = (
        select(StatusUpdate)
        .where(StatusUpdate.incident_id == incident_id)
        .order_by(col(StatusUpdate.at), col(StatusUpdate.id))
    )
    return list(session.exec(query))


def overdue_incidents(session: Session, now: datetime) -> list[Incident]:
    """Open incidents whose next status update was due at or before `now`, earliest due first."""
    query = (
        select(Incident)
        .where(col(Incident.status).in_(OPEN_STATUSES), col(Incident.next_update_due_at) <= now)
        .order_by(col(Incident.next_update_due_at), col(Incident.id))
    )
    return list(session.exec(query))


def earliest_update_due_after(session: Session, after: datetime) -> datetime | None:
    """The earliest `next_update_due_at` of an open incident later than `after` (None: none)."""
    query = select(func.min(Incident.next_update_due_at)).where(
        col(Incident.status).in_(OPEN_STATUSES), col(Incident.next_update_due_at) > after
    )
    due = session.exec(query).one()
    return None if due is None else aware(due)


def current_role_holders(
    session: Session, incident_ids: Collection[int], roles: Collection[str]
) -> dict[tuple[int, str], str]:
    """Who holds each of `roles` on each incident now, as {(incident id, role): handle} (the latest
    assignment wins should two be open)."""
    if not incident_ids:
        return {}
    query = (
        select(IncidentRoleAssignment.incident_id, IncidentRoleAssignment.role, User.handle)
        .join(User, col(User.id) == col(IncidentRoleAssignment.user_id))
        .where(
            col(IncidentRoleAssignment.incident_id).in_(list(incident_ids)),
            col(IncidentRoleAssignment.role).in_(list(roles)),
            col(IncidentRoleAssignment.ended_at).is_(None),
        )
        .order_by(col(IncidentRoleAssignment.started_at), col(IncidentRoleAssignment.id))
    )
    return {(incident_id, role): handle for incident_id, role, handle in session.exec(query)}


def outbox_keys_with_prefix(session: Session, prefix: str) -> list[str]:
    """The idempotency keys of every outbox row (any status) whose key starts with `prefix`."""
    key = col(OutboxMessage.idempotency_key)
    query = select(OutboxMessage.idempotency_key).where(key_starts_with(key, prefix))
    return list(session.exec(query))


def incident_events_of_kind(session: Session, incident_id: int, kind: str) -> list[IncidentEvent]:
    """The incident's timeline lines of one `kind`, oldest first."""
    query = (
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id, IncidentEvent.kind == kind)
        .order_by(col(IncidentEvent.at), col(IncidentEvent.id))
    )
    return list(session.exec(query))
