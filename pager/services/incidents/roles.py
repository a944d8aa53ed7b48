"""Incident roles with history (docs/incidents.md, "Roles"): assign, hand over, page the person.

Commander, scribe, comms lead and executive sponsor have one holder at a time: assigning one to
someone else ends the previous holder's row (who ended it, why) and starts a new one. Subject-matter
experts (`sme`) may be many. `page=True` pages the person through their own rules, cause key
`incident-role:<assignment id>`, "[DRILL]" on a drill.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from pager.core.incident_model import INCIDENT_ROLES, SINGLE_HOLDER_ROLES, IncidentRole
from pager.db.incident_roles import add_assignment, current_holders, end_assignment
from pager.db.incident_tables import Incident, IncidentRoleAssignment
from pager.db.tables import User
from pager.services.errors import Conflict, InvalidInput
from pager.services.incidents.records import (
    MAX_TEXT,
    active_user,
    fill_acknowledged,
    locked_incident,
    record,
    refuse_if_closed,
)
from pager.services.people.direct_pages import page_person

log = logging.getLogger("pager.incidents")

ROLE_WORDS = {
    "commander": "incident commander",
    "scribe": "scribe",
    "comms_lead": "communications lead",
    "executive_sponsor": "executive sponsor",
    "sme": "subject-matter expert",
}


def check_role(role: str) -> IncidentRole:
    """`role` when it is one of the incident roles; InvalidInput otherwise."""
    if role not in INCIDENT_ROLES:
        raise InvalidInput(f"unknown role {role!r}; use one of {', '.join(INCIDENT_ROLES)}")
    return role  # type: ignore[return-value]


def assign_role(
    session: Session,
    incident_id: int,
    role: str,
    handle: str,
    *,
    reason: str = "",
    page: bool = False,
    actor: str,
    now: datetime,
) -> IncidentRoleAssignment:
    """Give `role` on the incident to `handle` (handing it over from its holder), maybe paging them."""
    chosen = check_role(role)
    reason = " ".join(reason.split())
    if len(reason) > MAX_TEXT:
        raise InvalidInput(f"reason is longer than {MAX_TEXT} characters")
    incident = locked_incident(session, incident_id)
    refuse_if_closed(incident)
    user = active_user(session, handle)
    assignment = start_role(session, incident, chosen, user, reason=reason, actor=actor, now=now)
    if page:
        page_holder(session, incident, assignment, user.handle, actor, now)
    return assignment


def start_role(
    session: Session,
    incident: Incident,
    role: IncidentRole,
    user: User,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> IncidentRoleAssignment:
    """Record `user` taking `role` now (ending the previous holder's row for a one-holder role)."""
    assert incident.id is not None and user.id is not None
    held = current_holders(session, incident.id, role)
    if any(assignment.user_id == user.id for assignment, _ in held):
        raise Conflict(f"{user.handle} already holds {role} on incident {incident.number}")
    previous = [handle for _, handle in held] if role in SINGLE_HOLDER_ROLES else []
    if role in SINGLE_HOLDER_ROLES:
        for assignment, _holder in held:
            why = reason or f"handed over to {user.handle}"
            end_assignment(session, assignment, at=now, by=actor, reason=why)
    assignment = add_assignment(
        session,
        IncidentRoleAssignment(
            incident_id=incident.id,
            role=role,
            user_id=user.id,
            started_at=now,
            assigned_by=actor,
            reason=reason,
        ),
    )
    because = f": {reason}" if reason else ""
    if previous:
        kind = "role_handed_over"
        message = f"{role} handed over from {', '.join(previous)} to {user.handle} by {actor}{because}"
    else:
        kind = "role_assigned"
        message = f"{user.handle} is {role} (assigned by {actor}){because}"
    data = {"role": role, "user": user.handle, "assignment": assignment.id, "previous": previous}
    record(session, incident, now, kind, actor, message, data)
    if role == "commander":
        fill_acknowledged(incident, now)
    incident.updated_at = now
    session.add(incident)
    log.info("incident_role number=%d role=%s user=%s by=%s", incident.number, role, user.handle, actor)
    return assignment


def page_holder(
    session: Session,
    incident: Incident,
    assignment: IncidentRoleAssignment,
    handle: str,
    actor: str,
    now: datetime,
) -> None:
    """Page the new holder through their rules (cause `incident-role:<assignment id>`) and say so."""
    words = ROLE_WORDS[assignment.role]
    text = f"Incident {incident.number} ({incident.severity}) {incident.title}: you are the {words}"
    subject = f"Incident {incident.number}: you are the {words}"
    queued = page_person(
        session, handle, f"incident-role:{assignment.id}", text, now, subject=subject, drill=incident.drill
    )
    if queued:
        message = f"{handle} paged as {assignment.role}"
    else:
        message = f"could not page {handle} as {assignment.role}: no usable contact method or rule"
    record(session, incident, now, "role_paged", actor, message, {"user": handle, "notices": len(queued)})
