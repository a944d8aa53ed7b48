"""Incident roles with their history (table `incident_roles`): who holds what, from when, until when.

A row is one person holding one role; handing a role over ends the previous holder's row (who ended
it and why) and starts a new one. The caller owns the session and its transaction; writes only flush.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

from sqlmodel import Session, col, select

from pager.db.incident_tables import IncidentRoleAssignment
from pager.db.tables import User


def role_history(
    session: Session, incident_ids: Collection[int], *, current_only: bool
) -> dict[int, list[tuple[IncidentRoleAssignment, str]]]:
    """Each incident's assignments with the holder's handle, oldest first (only those still held
    when `current_only`)."""
    if not incident_ids:
        return {}
    query = (
        select(IncidentRoleAssignment, User.handle)
        .join(User, col(User.id) == col(IncidentRoleAssignment.user_id))
        .where(col(IncidentRoleAssignment.incident_id).in_(list(incident_ids)))
        .order_by(col(IncidentRoleAssignment.started_at), col(IncidentRoleAssignment.id))
    )
    if current_only:
        query = query.where(col(IncidentRoleAssignment.ended_at).is_(None))
    found: dict[int, list[tuple[IncidentRoleAssignment, str]]] = defaultdict(list)
    for assignment, handle in session.exec(query):
        found[assignment.incident_id].append((assignment, handle))
    return dict(found)


def current_holders(
    session: Session, incident_id: int, role: str
) -> list[tuple[IncidentRoleAssignment, str]]:
    """The assignments of `role` on the incident still held, with handles, oldest first."""
    held = role_history(session, [incident_id], current_only=True).get(incident_id, [])
    return [(assignment, handle) for assignment, handle in held if assignment.role == role]


def add_assignment(session: Session, assignment: IncidentRoleAssignment) -> IncidentRoleAssignment:
    """Insert the assignment (flushed, so its id is set)."""
    session.add(assignment)
    session.flush()
    return assignment


def end_assignment(
    session: Session, assignment: IncidentRoleAssignment, *, at: datetime, by: str, reason: str
) -> None:
    """End a held assignment at `at`, saying who ended it and why."""
    assignment.ended_at = at
    assignment.ended_by = by
    assignment.end_reason = reason
    session.add(assignment)
    session.flush()
