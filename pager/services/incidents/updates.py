"""Status updates (docs/incidents.md, "Status updates"): posting one, and the updates of an incident.

Posting an update is what ends an overdue ladder: the next update falls due `update_every` after it,
and the pages of the overdue ladder still pending are cancelled in the same transaction.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlmodel import Session

from pager.core.incident_model import INCIDENT_STATUSES, OPEN_STATUSES, IncidentRules
from pager.core.update_ladder import update_cause_prefix
from pager.db.incident_tables import StatusUpdate
from pager.db.incident_timeline import add_incident_event
from pager.db.incident_updates import add_status_update_row, status_updates_of
from pager.db.incidents import find_incident
from pager.services.errors import Conflict, InvalidInput, NotFound
from pager.services.incidents.changes import move_status
from pager.services.incidents.records import locked_incident, refresh_update_due
from pager.services.people.direct_pages import cancel_direct_pages

log = logging.getLogger("pager.incidents")

MAX_UPDATE_LENGTH = 5000


def post_update_on(
    session: Session,
    incident_id: int,
    text: str,
    public: bool,
    status: str | None,
    actor: str,
    now: datetime,
    rules: IncidentRules,
) -> StatusUpdate:
    """Post a status update on an open incident, in the caller's transaction: stored, on the timeline,
    the next one due `update_every` later, the overdue ladder's pending pages cancelled; with `status`,
    the incident moves to it too. Nothing changes when it is refused: InvalidInput for an empty or too
    long text or an unknown status, NotFound for an unknown incident, Conflict once it is resolved or
    closed."""
    message = text.strip()
    if not message:
        raise InvalidInput("a status update needs text; say what is happening and what comes next")
    if len(message) > MAX_UPDATE_LENGTH:
        raise InvalidInput(f"a status update is at most {MAX_UPDATE_LENGTH} characters, not {len(message)}")
    if status is not None and status not in INCIDENT_STATUSES:
        raise InvalidInput(f"unknown status {status!r}: expected one of {', '.join(INCIDENT_STATUSES)}")
    incident = locked_incident(session, incident_id)
    assert incident.id is not None
    if incident.status not in OPEN_STATUSES:
        raise Conflict(f"incident {incident.number} is {incident.status}: it takes no more status updates")
    was_due = incident.next_update_due_at
    if status is not None and status != incident.status:  # checked by the lifecycle rules
        move_status(session, rules, incident, status, message="with a status update", actor=actor, now=now)
    row = add_status_update_row(
        session, incident.id, at=now, author=actor, message=message, public=public, status=status
    )
    audience = "public" if public else "internal"
    add_incident_event(
        session,
        incident.id,
        now,
        "update",
        actor,
        f"{audience} update: {message}",
        {"update_id": row.id, "public": public, "status": status},
    )
    incident.last_update_at = now
    refresh_update_due(incident, rules)
    incident.updated_at = now
    session.add(incident)
    cancelled = cancel_direct_pages(session, update_cause_prefix(incident.id), now)
    if was_due is not None and _aware(was_due) <= now:
        add_incident_event(
            session,
            incident.id,
            now,
            "update_ladder_stopped",
            actor,
            f"status update posted: the overdue ladder stopped ({cancelled} pending pages cancelled)",
            {"due": _aware(was_due).isoformat(), "cancelled": cancelled},
        )
    session.flush()
    log.info(
        "incident_update incident=%d public=%s status=%s cancelled=%d", incident.id, public, status, cancelled
    )
    return row


def updates_of(session: Session, incident_id: int) -> list[StatusUpdate]:
    """The incident's status updates, oldest first (NotFound for an unknown incident)."""
    if find_incident(session, incident_id) is None:
        raise NotFound(f"no incident {incident_id}")
    return status_updates_of(session, incident_id)


def _aware(instant: datetime) -> datetime:
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant
