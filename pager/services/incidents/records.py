"""Declaring and listing incidents, and what every incident use case shares (docs/incidents.md).

Each use case takes the caller's session (one transaction: the HTTP runners, `database_session` in
the commands, the worker job's own `session_scope`) and writes an `incident_timeline` line with its
actor and instant for every change, in that transaction. Bad input raises InvalidInput, NotFound or
Conflict before anything is written.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from pager.core.incident_lifecycle import may_fill
from pager.core.incident_model import (
    INCIDENT_SEVERITIES,
    MILESTONES,
    IncidentRules,
    IncidentSeverity,
)
from pager.core.update_cadence import next_update_due
from pager.db.incident_tables import Incident
from pager.db.incident_timeline import add_incident_event
from pager.db.incidents import (
    lock_incident,
)
from pager.db.tables import User
from pager.db.users import find_user_by_handle
from pager.services.errors import Conflict, InvalidInput, NotFound
from pager.services.people.direct_pages import cancel_direct_pages

log = logging.getLogger("pager.incidents")

MAX_TITLE = 200
MAX_TEXT = 5000
NUMBER_ATTEMPTS = 5


def clean_text(text: str, what: str, limit: int = MAX_TEXT) -> str:
    """`text` stripped; InvalidInput when empty, too long or holding control characters."""
    value = text.strip()
    if not value:
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > limit:
        raise InvalidInput(f"{what} is longer than {limit} characters")
    if any((ord(ch) < 32 and ch not in "\n\t") or ord(ch) == 127 for ch in value):
        raise InvalidInput(f"{what} holds control characters")
    return value


def check_severity(severity: str) -> IncidentSeverity:
    """`severity` when it is SEV0, SEV1 or SEV2; InvalidInput otherwise."""
    if severity not in INCIDENT_SEVERITIES:
        raise InvalidInput(f"unknown severity {severity!r}; use one of {', '.join(INCIDENT_SEVERITIES)}")
    return severity  # type: ignore[return-value]


def locked_incident(session: Session, incident_id: int) -> Incident:
    """Incident `incident_id` with its row locked until commit, or NotFound."""
    incident = lock_incident(session, incident_id)
    if incident is None:
        raise NotFound(f"no incident {incident_id}")
    return incident


def refuse_if_closed(incident: Incident) -> None:
    """Conflict when the incident is closed: a closed incident does not change."""
    if incident.status == "closed":
        raise Conflict(f"incident {incident.number} is closed; a closed incident does not change")


def milestones_of(incident: Incident) -> dict[str, datetime | None]:
    """The incident's milestone instants by name, in MILESTONES order."""
    return {name: getattr(incident, f"{name}_at") for name in MILESTONES}


def set_milestones(incident: Incident, changes: dict[str, datetime | None]) -> None:
    """Write milestone changes onto the incident's columns."""
    for name, at in changes.items():
        setattr(incident, f"{name}_at", at)


def refresh_update_due(incident: Incident, rules: IncidentRules) -> None:
    """Recompute `next_update_due_at` after anything that moves it (status, severity, impact, updates)."""
    severity = rules.severities.get(incident.severity)
    incident.next_update_due_at = next_update_due(
        status=incident.status,
        customer_impact=incident.customer_impact,
        declared_at=incident.declared_at,
        last_update_at=incident.last_update_at,
        update_every=severity.update_every if severity is not None else None,
    )


def move_update_due(session: Session, incident: Incident, rules: IncidentRules, now: datetime) -> None:
    """`refresh_update_due`, and when that moves the due instant (a new severity's cadence, a resolve),
    the old instant's overdue pages not sent yet are cancelled: the ladder they belonged to is over."""
    before = incident.next_update_due_at
    refresh_update_due(incident, rules)
    if incident.next_update_due_at != before and incident.id is not None:
        cancel_direct_pages(session, f"incident-update:{incident.id}", now)


def record(
    session: Session,
    incident: Incident,
    now: datetime,
    kind: str,
    actor: str,
    message: str,
    data: dict[str, Any] | None = None,
) -> None:
    """One line on the incident's timeline, in the caller's transaction."""
    assert incident.id is not None
    add_incident_event(session, incident.id, now, kind, actor, message, data)


def active_user(session: Session, handle: str) -> User:
    """The active user with `handle`; InvalidInput for nobody or a deactivated person (a handle is
    part of the request, not the thing the request is about)."""
    user = find_user_by_handle(session, handle)
    if user is None:
        raise InvalidInput(f"no user {handle!r}")
    if user.deactivated_at is not None:
        raise InvalidInput(f"user {handle!r} is deactivated")
    return user


def actor_of_token(session: Session, user_id: int | None, token_name: str) -> str:
    """Who an API token acts as: the handle of the person it is tied to, else `token:<name>`."""
    if user_id is not None:
        user = session.get(User, user_id)
        if user is not None:
            return user.handle
    return f"token:{token_name}"


def fill_acknowledged(incident: Incident, now: datetime) -> None:
    """The `acknowledged` milestone, the first time someone takes command (when the order allows)."""
    if may_fill(milestones_of(incident), "acknowledged"):
        incident.acknowledged_at = now
