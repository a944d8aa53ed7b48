"""Changing an incident (docs/incidents.md, "Lifecycle", "Milestones"): status, severity,
milestones, notes. Each change is checked by the pure rules of pager.core.incident_lifecycle first
and written with its timeline line in the caller's transaction; a refused one changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from pager.core.incident_lifecycle import (
    IncidentClosed,
    LifecycleError,
    check_milestones,
    check_status_move,
    status_milestones,
)
from pager.core.incident_model import MILESTONES, IncidentRules, IncidentStatus
from pager.core.localtime import format_instant
from pager.db.incident_tables import Incident
from pager.db.incidents import save_incident
from pager.services.errors import Conflict, InvalidInput
from pager.services.incidents.postmortems import open_postmortem
from pager.services.incidents.records import (
    MAX_TEXT,
    check_severity,
    clean_text,
    locked_incident,
    milestones_of,
    move_update_due,
    record,
    refuse_if_closed,
    set_milestones,
)

log = logging.getLogger("pager.incidents")


def change_status(
    session: Session,
    rules: IncidentRules,
    incident_id: int,
    status: str,
    *,
    message: str = "",
    actor: str,
    now: datetime,
) -> Incident:
    """Move the incident to `status` (InvalidInput for a move the lifecycle refuses, Conflict when
    closed). Resolving goes through `resolve_incident`, the one place a resolve happens."""
    incident = locked_incident(session, incident_id)
    return move_status(session, rules, incident, status, message=message, actor=actor, now=now)


def move_status(
    session: Session,
    rules: IncidentRules,
    incident: Incident,
    status: str,
    *,
    message: str = "",
    actor: str,
    now: datetime,
) -> Incident:
    """`change_status` on an incident the caller has already locked (a status update moving it)."""
    note = " ".join(message.split())
    if len(note) > MAX_TEXT:
        raise InvalidInput(f"message is longer than {MAX_TEXT} characters")
    try:
        check_status_move(incident.status, status)
    except IncidentClosed as exc:
        raise Conflict(f"incident {incident.number}: {exc}") from None
    except LifecycleError as exc:
        raise InvalidInput(f"incident {incident.number}: {exc}") from None
    if status == "resolved":
        return resolve_incident(session, rules, incident, message=note, actor=actor, now=now)
    _apply_status(session, rules, incident, status, note, actor, now)  # type: ignore[arg-type]
    return incident


def resolve_incident(
    session: Session, rules: IncidentRules, incident: Incident, *, message: str, actor: str, now: datetime
) -> Incident:
    """Resolve a locked, open incident (the move already checked): the resolved milestone, the
    update cadence stopped, the timeline line. Every resolve comes through here, so what follows a
    resolve (the postmortem draft) belongs here, in the same transaction."""
    _apply_status(session, rules, incident, "resolved", message, actor, now)
    open_postmortem(session, incident, rules, now)  # by "system": nobody asked for it
    return incident


def _apply_status(
    session: Session,
    rules: IncidentRules,
    incident: Incident,
    status: IncidentStatus,
    message: str,
    actor: str,
    now: datetime,
) -> None:
    previous = incident.status
    changes = status_milestones(previous, status, milestones_of(incident), now)
    set_milestones(incident, changes)
    incident.status = status
    incident.updated_at = now
    move_update_due(session, incident, rules, now)
    save_incident(session, incident)
    because = f": {message}" if message else ""
    verb = "reopened" if previous == "resolved" and status == "investigating" else "moved"
    record(
        session,
        incident,
        now,
        "status_changed",
        actor,
        f"status {verb} from {previous} to {status} by {actor}{because}",
        {"from": previous, "to": status, "milestones": sorted(changes)},
    )
    log.info("incident_status number=%d from=%s to=%s by=%s", incident.number, previous, status, actor)


def change_severity(
    session: Session,
    rules: IncidentRules,
    incident_id: int,
    severity: str,
    *,
    reason: str = "",
    actor: str,
    now: datetime,
) -> Incident:
    """Set the incident's severity (a new update cadence from now on)."""
    chosen = check_severity(severity)
    reason = " ".join(reason.split())
    if len(reason) > MAX_TEXT:
        raise InvalidInput(f"reason is longer than {MAX_TEXT} characters")
    incident = locked_incident(session, incident_id)
    refuse_if_closed(incident)
    if incident.severity == chosen:
        raise InvalidInput(f"incident {incident.number} is already {chosen}")
    previous = incident.severity
    incident.severity = chosen
    incident.updated_at = now
    move_update_due(session, incident, rules, now)
    save_incident(session, incident)
    because = f": {reason}" if reason else ""
    record(
        session,
        incident,
        now,
        "severity_changed",
        actor,
        f"severity changed from {previous} to {chosen} by {actor}{because}",
        {"from": previous, "to": chosen},
    )
    return incident


def set_customer_impact(
    session: Session,
    rules: IncidentRules,
    incident_id: int,
    affected: bool,
    *,
    reason: str = "",
    actor: str,
    now: datetime,
) -> Incident:
    """Say whether customers are affected: with impact, status updates fall due every `update_every`
    (from the last update, or from now when none was posted yet); without, no update is due."""
    reason = " ".join(reason.split())
    if len(reason) > MAX_TEXT:
        raise InvalidInput(f"reason is longer than {MAX_TEXT} characters")
    incident = locked_incident(session, incident_id)
    refuse_if_closed(incident)
    if incident.customer_impact == affected:
        state = "already affects customers" if affected else "already has no customer impact"
        raise InvalidInput(f"incident {incident.number} {state}")
    incident.customer_impact = affected
    if affected and incident.last_update_at is None:
        # The cadence counts from the declaration; an incident found to affect customers an hour
        # in is not an hour overdue at once: its first update is due `update_every` from now.
        incident.last_update_at = now
    incident.updated_at = now
    move_update_due(session, incident, rules, now)
    save_incident(session, incident)
    because = f": {reason}" if reason else ""
    what = "affects customers" if affected else "no longer affects customers"
    record(
        session,
        incident,
        now,
        "impact_changed",
        actor,
        f"{what} (set by {actor}){because}",
        {"customer_impact": affected},
    )
    return incident


def set_milestone(
    session: Session,
    rules: IncidentRules,
    incident_id: int,
    name: str,
    at: datetime,
    *,
    actor: str,
    now: datetime,
) -> Incident:
    """Set or move milestone `name` to `at` (impact start may be backdated); the order is enforced.

    `resolved` and `closed` are set by the status; they can be moved once set, not set by hand.
    """
    if name not in MILESTONES:
        raise InvalidInput(f"unknown milestone {name!r}; use one of {', '.join(MILESTONES)}")
    if at.utcoffset() is None:
        raise InvalidInput(f"milestone {name}: the instant needs a UTC offset")
    incident = locked_incident(session, incident_id)
    refuse_if_closed(incident)
    current = milestones_of(incident)
    if name in ("resolved", "closed") and current[name] is None:
        raise InvalidInput(f"milestone {name} is set by moving the incident to {name}, not by hand")
    proposed = {**current, name: at}
    try:
        check_milestones(proposed, now)
    except LifecycleError as exc:
        raise InvalidInput(f"incident {incident.number}: {exc}") from None
    set_milestones(incident, {name: at})
    incident.updated_at = now
    move_update_due(session, incident, rules, now)
    save_incident(session, incident)
    before = current[name]
    was = f" (was {format_instant(before)})" if before is not None else ""
    record(
        session,
        incident,
        now,
        "milestone_moved",
        actor,
        f"milestone {name} set to {format_instant(at)}{was} by {actor}",
        {"milestone": name, "at": format_instant(at), "was": format_instant(before) if before else None},
    )
    return incident


def add_note(session: Session, incident_id: int, text: str, *, actor: str, now: datetime) -> Incident:
    """A scribe's note on the incident's timeline (kind `note`)."""
    note = clean_text(text, "note")
    incident = locked_incident(session, incident_id)
    refuse_if_closed(incident)
    record(session, incident, now, "note", actor, note)
    incident.updated_at = now
    save_incident(session, incident)
    return incident
