"""Declaring an incident by hand (CLI, API) or by a rule (docs/incidents.md, "Declaring")."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pager.core.incident_model import IncidentRules, IncidentSeverity
from pager.db.incident_tables import Incident
from pager.db.incidents import (
    add_incident,
    first_ack_lines,
    link_alert,
    link_services,
    lock_alerts,
    next_incident_number,
    open_incidents_of_alerts,
)
from pager.db.tables import Alert, Service, User
from pager.db.users import find_user_by_handle
from pager.services.errors import Conflict, InvalidInput
from pager.services.incidents.records import (
    MAX_TITLE,
    active_user,
    check_severity,
    clean_text,
    record,
    refresh_update_due,
)
from pager.services.incidents.roles import start_role

log = logging.getLogger("pager.incidents")

NUMBER_ATTEMPTS = 5


def declare(
    session: Session,
    rules: IncidentRules,
    *,
    title: str,
    severity: str,
    services: Sequence[str] = (),
    alerts: Sequence[int] = (),
    commander: str | None = None,
    customer_impact: bool = False,
    drill: bool = False,
    actor: str,
    now: datetime,
) -> Incident:
    """Declare an incident: numbered max+1, its services and alerts linked, a commander (given, or
    whoever acknowledged the first linked alert), milestones (detected at the first linked alert's
    trigger when earlier), the update cadence, and its timeline lines. Returns the new incident."""
    title = clean_text(title, "title", MAX_TITLE)
    chosen = check_severity(severity)
    service_ids = list(dict.fromkeys(s.strip() for s in services))
    for service_id in service_ids:
        if session.get(Service, service_id) is None:
            raise InvalidInput(f"no service {service_id!r}")
    linked = _alerts_to_link(session, alerts)
    for alert in linked:
        if alert.service_id not in service_ids:
            service_ids.append(alert.service_id)
    holder = active_user(session, commander) if commander else _first_acknowledger(session, linked)
    incident = _insert_numbered(session, title, chosen, customer_impact, drill, actor, now)
    assert incident.id is not None
    first_trigger = min((a.created_at for a in linked), default=now)
    incident.detected_at = min(first_trigger, now)
    refresh_update_due(incident, rules)
    mark = "drill " if drill else ""
    impact = ", customers affected" if customer_impact else ""
    record(
        session,
        incident,
        now,
        "declared",
        actor,
        f"{chosen} {mark}incident declared by {actor}: {title}{impact}",
    )
    link_services(session, incident.id, service_ids)
    for alert in linked:
        assert alert.id is not None
        link_alert(session, incident.id, alert.id, now, actor)
        record(
            session,
            incident,
            now,
            "alert_linked",
            actor,
            f"alert {alert.id} ({alert.service_id}: {alert.summary}) linked",
            {"alert": alert.id},
        )
    if holder is not None:
        start_role(session, incident, "commander", holder, reason="declared", actor=actor, now=now)
    log.info("incident_declared number=%d severity=%s drill=%s by=%s", incident.number, chosen, drill, actor)
    return incident


def _alerts_to_link(session: Session, alert_ids: Sequence[int]) -> list[Alert]:
    wanted = list(dict.fromkeys(alert_ids))
    found = lock_alerts(session, wanted)
    missing = sorted(set(wanted) - {a.id for a in found})
    if missing:
        raise InvalidInput(f"no alert {missing[0]}")
    taken = open_incidents_of_alerts(session, wanted)
    if taken:
        alert_id, number = sorted(taken.items())[0]
        raise Conflict(f"alert {alert_id} already belongs to open incident {number}")
    return sorted(found, key=lambda a: (a.created_at, a.id or 0))


def _first_acknowledger(session: Session, linked: list[Alert]) -> User | None:
    """Whoever acknowledged the first linked alert, when that is an active person."""
    if not linked:
        return None
    first = linked[0]
    candidates = [first.acknowledged_by] if first.acknowledged_by else []
    assert first.id is not None
    for line in first_ack_lines(session, first.id):
        candidates.append(line.message.removeprefix("acknowledged by ").strip())
    for handle in candidates:
        user = find_user_by_handle(session, handle) if handle else None
        if user is not None and user.deactivated_at is None:
            return user
    return None


def _insert_numbered(
    session: Session,
    title: str,
    severity: IncidentSeverity,
    impact: bool,
    drill: bool,
    actor: str,
    now: datetime,
) -> Incident:
    """Insert the incident with the next number; a number taken meanwhile by another writer is retried."""
    for _attempt in range(NUMBER_ATTEMPTS):
        incident = Incident(
            number=next_incident_number(session),
            title=title,
            severity=severity,
            status="investigating",
            drill=drill,
            customer_impact=impact,
            declared_by=actor,
            declared_at=now,
            created_at=now,
            updated_at=now,
        )
        try:
            with session.begin_nested():
                add_incident(session, incident)
        except IntegrityError:
            continue
        return incident
    raise Conflict("could not number the incident: too many declared at once; try again")
