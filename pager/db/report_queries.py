"""What the response report reads (docs/analytics.md): the window's alerts with their first
acknowledgement, their pages that reached the provider, the window's incidents, people's zones.

Drills are left out here: an alert linked to a drill incident, its pages and the drill incidents
themselves (which are only counted). The caller owns the (read-only) session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func
from sqlalchemy import select as sql_select
from sqlmodel import Session, col

from pager.core.response_report import AlertFact, IncidentFact, PageFact
from pager.db.columns import UTCDateTime
from pager.db.incident_tables import Incident, IncidentAlert, IncidentService
from pager.db.tables import Alert, OutboxMessage, TimelineEntry, User

# Timeline kinds that acknowledge an alert (a snooze acknowledges it too).
ACK_KINDS = ("acknowledged", "snoozed")


def drill_alert() -> ColumnElement[bool]:
    """True for an alert linked to a drill incident."""
    return exists().where(
        col(IncidentAlert.alert_id) == col(Alert.id),
        col(IncidentAlert.incident_id) == col(Incident.id),
        col(Incident.drill).is_(True),
    )


def _alert_filter(service: str | None) -> ColumnElement[bool]:
    not_drill = ~drill_alert()
    return not_drill if service is None else and_(col(Alert.service_id) == service, not_drill)


def window_alerts(session: Session, start: datetime, end: datetime, service: str | None) -> list[AlertFact]:
    """Alerts triggered in [start, end) (not drills; of `service` when given), with their first ack."""
    # Correlated, so each alert of the window looks up its own lines (index on alert_id).
    first_ack = (
        sql_select(func.min(col(TimelineEntry.at), type_=UTCDateTime()))
        .where(col(TimelineEntry.alert_id) == col(Alert.id), col(TimelineEntry.kind).in_(ACK_KINDS))
        .scalar_subquery()
    )
    query = (
        sql_select(col(Alert.id), col(Alert.created_at), first_ack, col(Alert.resolved_at))
        .where(col(Alert.created_at) >= start, col(Alert.created_at) < end, _alert_filter(service))
        .order_by(col(Alert.id))
    )
    return [AlertFact(*row) for row in session.execute(query)]


def _page_columns() -> tuple[Any, ...]:
    """A page's facts; its delivery instant is `updated_at` once a report marked it delivered (the
    row is never changed after that)."""
    return (
        col(OutboxMessage.alert_id),
        col(OutboxMessage.user_handle),
        col(OutboxMessage.method),
        col(OutboxMessage.last_attempt_at),
        col(OutboxMessage.status),
        col(OutboxMessage.updated_at),
    )


def _page_fact(row: Any) -> PageFact:
    alert_id, user, method, sent_at, status, updated_at = row
    return PageFact(alert_id, user, method, sent_at, updated_at if status == "delivered" else None)


def handed_over() -> ColumnElement[bool]:
    """A page the provider accepted: it has the provider's id and the instant it was handed over."""
    return and_(col(OutboxMessage.provider_id).is_not(None), col(OutboxMessage.last_attempt_at).is_not(None))


def pages_of_window_alerts(
    session: Session, start: datetime, end: datetime, service: str | None
) -> list[PageFact]:
    """Handed-over pages of the alerts `window_alerts` returns."""
    query = (
        sql_select(*_page_columns())
        .join(Alert, col(Alert.id) == col(OutboxMessage.alert_id))
        .where(
            col(Alert.created_at) >= start, col(Alert.created_at) < end, _alert_filter(service), handed_over()
        )
        .order_by(col(OutboxMessage.id))
    )
    return [_page_fact(row) for row in session.execute(query)]


def pages_handed_over_in(
    session: Session, start: datetime, end: datetime, service: str | None
) -> list[PageFact]:
    """Pages of alerts (not drills; of `service` when given) handed to the provider in [start, end)."""
    query = (
        sql_select(*_page_columns())
        .join(Alert, col(Alert.id) == col(OutboxMessage.alert_id))
        .where(
            handed_over(),
            col(OutboxMessage.last_attempt_at) >= start,
            col(OutboxMessage.last_attempt_at) < end,
            _alert_filter(service),
        )
        .order_by(col(OutboxMessage.id))
    )
    return [_page_fact(row) for row in session.execute(query)]


def _incident_filter(start: datetime, end: datetime, service: str | None) -> ColumnElement[bool]:
    in_window = and_(col(Incident.declared_at) >= start, col(Incident.declared_at) < end)
    if service is None:
        return in_window
    affects = exists().where(
        col(IncidentService.incident_id) == col(Incident.id), col(IncidentService.service_id) == service
    )
    return and_(in_window, affects)


def window_incidents(
    session: Session, start: datetime, end: datetime, service: str | None
) -> list[IncidentFact]:
    """Incidents declared in [start, end), drills left out (affecting `service` when given)."""
    query = (
        sql_select(
            col(Incident.severity),
            func.coalesce(col(Incident.impact_started_at), col(Incident.declared_at), type_=UTCDateTime()),
            col(Incident.acknowledged_at),
            col(Incident.resolved_at),
        )
        .where(_incident_filter(start, end, service), col(Incident.drill).is_(False))
        .order_by(col(Incident.id))
    )
    return [IncidentFact(*row) for row in session.execute(query)]


def drills_in(session: Session, start: datetime, end: datetime, service: str | None) -> int:
    """Drill incidents declared in [start, end) (affecting `service` when given)."""
    query = sql_select(func.count()).where(
        _incident_filter(start, end, service), col(Incident.drill).is_(True)
    )
    return int(session.execute(query.select_from(Incident)).scalar_one())


def user_zones(session: Session) -> dict[str, str | None]:
    """Every person's handle and time zone name (None when not set)."""
    query = sql_select(col(User.handle), col(User.time_zone))
    return {handle: zone for handle, zone in session.execute(query)}
