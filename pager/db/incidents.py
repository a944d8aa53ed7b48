"""Incidents, their services and linked alerts (tables `incidents`, `incident_services`,
`incident_alerts`). The caller owns the session and its transaction; writes only flush.

Roles live in pager/db/incident_roles.py, the incident's own timeline in pager/db/incident_timeline.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from pager.core.incident_model import OPEN_STATUSES
from pager.db.incident_tables import Incident, IncidentAlert, IncidentService
from pager.db.session import is_postgres
from pager.db.tables import Alert, TimelineEntry

# The key of the Postgres advisory lock that serializes automatic declaring across workers.
AUTO_DECLARE_LOCK = 0x1C1DE47


def next_incident_number(session: Session) -> int:
    """One more than the highest incident number (1 for the first)."""
    highest = session.exec(select(func.max(Incident.number))).one()
    return int(highest or 0) + 1


def add_incident(session: Session, incident: Incident) -> Incident:
    """Insert `incident` (flushed, so its id is set)."""
    session.add(incident)
    session.flush()
    return incident


def save_incident(session: Session, incident: Incident) -> None:
    """Write the changed columns of `incident` with the transaction's next flush."""
    session.add(incident)
    session.flush()


def lock_incident(session: Session, incident_id: int) -> Incident | None:
    """Incident `incident_id`, freshly read with its row locked until commit (None: no such one)."""
    query = (
        select(Incident)
        .where(Incident.id == incident_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(query).first()


def find_incident(session: Session, incident_id: int) -> Incident | None:
    """Incident `incident_id`, or None."""
    return session.get(Incident, incident_id)


def newest_incidents(session: Session, *, open_only: bool, drills: bool, limit: int) -> list[Incident]:
    """Up to `limit` incidents, newest first; drills only when `drills`, open ones only when asked."""
    query = select(Incident).order_by(col(Incident.number).desc()).limit(limit)
    if open_only:
        query = query.where(col(Incident.status).in_(OPEN_STATUSES))
    if not drills:
        query = query.where(col(Incident.drill).is_(False))
    return list(session.exec(query))


def link_services(session: Session, incident_id: int, service_ids: Collection[str]) -> None:
    """Record that the incident affects `service_ids` (ones already linked are left alone)."""
    have = set(services_of(session, [incident_id]).get(incident_id, ()))
    for service_id in service_ids:
        if service_id not in have:
            session.add(IncidentService(incident_id=incident_id, service_id=service_id))
            have.add(service_id)
    session.flush()


def link_alert(session: Session, incident_id: int, alert_id: int, at: datetime, by: str) -> None:
    """Link alert `alert_id` to the incident (the caller checked it belongs to no open incident)."""
    session.add(IncidentAlert(incident_id=incident_id, alert_id=alert_id, linked_at=at, linked_by=by))
    session.flush()


def services_of(session: Session, incident_ids: Collection[int]) -> dict[int, list[str]]:
    """The service ids of each incident, sorted."""
    if not incident_ids:
        return {}
    query = (
        select(IncidentService)
        .where(col(IncidentService.incident_id).in_(list(incident_ids)))
        .order_by(col(IncidentService.service_id))
    )
    found: dict[int, list[str]] = defaultdict(list)
    for row in session.exec(query):
        found[row.incident_id].append(row.service_id)
    return dict(found)


def alert_ids_of(session: Session, incident_ids: Collection[int]) -> dict[int, list[int]]:
    """The linked alert ids of each incident, in id order."""
    if not incident_ids:
        return {}
    query = (
        select(IncidentAlert)
        .where(col(IncidentAlert.incident_id).in_(list(incident_ids)))
        .order_by(col(IncidentAlert.alert_id))
    )
    found: dict[int, list[int]] = defaultdict(list)
    for row in session.exec(query):
        found[row.incident_id].append(row.alert_id)
    return dict(found)


def alerts_by_id(session: Session, alert_ids: Collection[int]) -> list[Alert]:
    """The alerts with these ids, oldest first (unknown ids are left out)."""
    if not alert_ids:
        return []
    query = select(Alert).where(col(Alert.id).in_(list(alert_ids))).order_by(col(Alert.id))
    return list(session.exec(query))


def lock_alerts(session: Session, alert_ids: Collection[int]) -> list[Alert]:
    """The alerts with these ids, oldest first, their rows locked until commit."""
    if not alert_ids:
        return []
    query = (
        select(Alert)
        .where(col(Alert.id).in_(list(alert_ids)))
        .order_by(col(Alert.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(session.exec(query))


def open_incidents_of_alerts(session: Session, alert_ids: Collection[int]) -> dict[int, int]:
    """Alert id -> the number of the open incident it is linked to, for those linked to one."""
    if not alert_ids:
        return {}
    query = (
        select(IncidentAlert.alert_id, Incident.number)
        .join(Incident, col(Incident.id) == col(IncidentAlert.incident_id))
        .where(col(IncidentAlert.alert_id).in_(list(alert_ids)), col(Incident.status).in_(OPEN_STATUSES))
    )
    return {alert_id: number for alert_id, number in session.exec(query)}


def timeline_of_alerts(session: Session, alert_ids: Collection[int]) -> list[TimelineEntry]:
    """Every timeline line of these alerts, oldest first."""
    if not alert_ids:
        return []
    query = (
        select(TimelineEntry)
        .where(col(TimelineEntry.alert_id).in_(list(alert_ids)))
        .order_by(col(TimelineEntry.at), col(TimelineEntry.id))
    )
    return list(session.exec(query))


def first_ack_lines(session: Session, alert_id: int) -> list[TimelineEntry]:
    """The alert's `acknowledged` timeline lines, oldest first."""
    query = (
        select(TimelineEntry)
        .where(TimelineEntry.alert_id == alert_id, TimelineEntry.kind == "acknowledged")
        .order_by(col(TimelineEntry.at), col(TimelineEntry.id))
    )
    return list(session.exec(query))


# --- automatic declaring and attaching -------------------------------------------------------------


def open_incident_services(session: Session) -> list[tuple[int, str]]:
    """(incident id, service id) of every open incident, oldest incident first: one indexed query."""
    query = (
        select(IncidentService.incident_id, IncidentService.service_id)
        .join(Incident, col(Incident.id) == col(IncidentService.incident_id))
        .where(col(Incident.status).in_(OPEN_STATUSES))
        .order_by(col(Incident.number), col(IncidentService.service_id))
    )
    return [(incident_id, service_id) for incident_id, service_id in session.exec(query)]


def highest_alert_id(session: Session) -> int:
    """The highest alert id there is (0 without alerts): the primary key's last entry."""
    return int(session.exec(select(func.max(Alert.id))).one() or 0)


def unlinked_alerts_since(
    session: Session,
    service_ids: Sequence[str],
    since: datetime,
    *,
    after_id: int = 0,
    lock: bool = False,
) -> list[Alert]:
    """Alerts on `service_ids` with an id above `after_id`, triggered at or after `since`, and linked
    to no open incident, oldest first. `after_id` keeps the scan to the newest rows of the primary
    key; `lock` holds their rows until commit (two workers then never link one alert twice)."""
    if not service_ids:
        return []
    linked = (
        select(IncidentAlert.alert_id)
        .join(Incident, col(Incident.id) == col(IncidentAlert.incident_id))
        .where(col(Incident.status).in_(OPEN_STATUSES))
    )
    query = (
        select(Alert)
        .where(
            col(Alert.id) > after_id,
            col(Alert.service_id).in_(list(service_ids)),
            col(Alert.created_at) >= since,
            col(Alert.id).not_in(linked),
        )
        .order_by(col(Alert.id))
    )
    if lock:
        query = query.with_for_update(of=Alert).execution_options(populate_existing=True)
    return list(session.exec(query))


def hold_auto_declare_lock(session: Session) -> None:
    """Serialize automatic declaring until commit: on Postgres a transaction advisory lock (SQLite's
    `BEGIN IMMEDIATE` already makes the transaction the only writer)."""
    if is_postgres(session):
        session.connection().execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUTO_DECLARE_LOCK})
