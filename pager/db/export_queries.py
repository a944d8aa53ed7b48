"""The exports' reads (docs/analytics.md, "Exports"): one chunk of rows at a time, by keyset.

Each query returns up to `limit` rows with an id above `after`, in id order, of those whose instant
falls in [start, end); the caller asks again from the last id until a chunk comes back short. Ids
grow with time, so a window's rows sit together in the primary key and each chunk is one index
range. Drills (incidents marked drill, and what belongs to them) are left out unless `drill`.
The first column of every row is its id (the key); the rest are the export's columns, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Executable, and_, exists, literal
from sqlalchemy import select as sql_select
from sqlmodel import Session, col

from pager.db.incident_tables import ActionItem, Incident, IncidentEvent
from pager.db.report_queries import drill_alert
from pager.db.tables import Alert, OutboxMessage, TimelineEntry, User

Row = Sequence[Any]
ChunkQuery = Callable[[Session, datetime, datetime, bool, int, int], list[Row]]


def _run(session: Session, query: Executable) -> list[Row]:
    return [tuple(row) for row in session.execute(query)]


def _in(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _drill_incident(incident_id: Any) -> ColumnElement[bool]:
    return exists().where(col(Incident.id) == incident_id, col(Incident.drill).is_(True))


def alerts_chunk(
    session: Session, start: datetime, end: datetime, drill: bool, after: int, limit: int
) -> list[Row]:
    query = sql_select(
        col(Alert.id),
        col(Alert.id),
        col(Alert.service_id),
        col(Alert.dedup_key),
        col(Alert.summary),
        col(Alert.severity),
        col(Alert.source),
        col(Alert.status),
        col(Alert.created_at),
        col(Alert.acknowledged_at),
        col(Alert.acknowledged_by),
        col(Alert.resolved_at),
        col(Alert.resolved_by),
        col(Alert.event_count),
    ).where(col(Alert.id) > after, _in(col(Alert.created_at), start, end))
    if not drill:
        query = query.where(~drill_alert())
    return _run(session, query.order_by(col(Alert.id)).limit(limit))


def pages_chunk(
    session: Session, start: datetime, end: datetime, drill: bool, after: int, limit: int
) -> list[Row]:
    query = sql_select(
        col(OutboxMessage.id),
        col(OutboxMessage.id),
        col(OutboxMessage.alert_id),
        col(OutboxMessage.user_handle),
        col(OutboxMessage.method),
        col(OutboxMessage.address),
        col(OutboxMessage.status),
        col(OutboxMessage.created_at),
        col(OutboxMessage.due_at),
        col(OutboxMessage.last_attempt_at),
        col(OutboxMessage.provider_id),
        col(OutboxMessage.updated_at),
        col(OutboxMessage.attempts),
        col(OutboxMessage.last_error),
    ).where(col(OutboxMessage.id) > after, _in(col(OutboxMessage.created_at), start, end))
    if not drill:
        query = query.where(~exists().where(col(Alert.id) == col(OutboxMessage.alert_id), drill_alert()))
    return _run(session, query.order_by(col(OutboxMessage.id)).limit(limit))


def incidents_chunk(
    session: Session, start: datetime, end: datetime, drill: bool, after: int, limit: int
) -> list[Row]:
    query = sql_select(
        col(Incident.id),
        col(Incident.id),
        col(Incident.number),
        col(Incident.title),
        col(Incident.severity),
        col(Incident.status),
        col(Incident.drill),
        col(Incident.customer_impact),
        col(Incident.declared_by),
        col(Incident.impact_started_at),
        col(Incident.detected_at),
        col(Incident.declared_at),
        col(Incident.acknowledged_at),
        col(Incident.identified_at),
        col(Incident.mitigated_at),
        col(Incident.resolved_at),
        col(Incident.closed_at),
    ).where(col(Incident.id) > after, _in(col(Incident.declared_at), start, end))
    if not drill:
        query = query.where(col(Incident.drill).is_(False))
    return _run(session, query.order_by(col(Incident.id)).limit(limit))


def alert_timeline_chunk(
    session: Session, start: datetime, end: datetime, drill: bool, after: int, limit: int
) -> list[Row]:
    query = sql_select(
        col(TimelineEntry.id),
        literal("alert"),
        col(TimelineEntry.alert_id),
        col(TimelineEntry.id),
        col(TimelineEntry.at),
        col(TimelineEntry.kind),
        literal(""),
        col(TimelineEntry.message),
        col(TimelineEntry.data),
    ).where(col(TimelineEntry.id) > after, _in(col(TimelineEntry.at), start, end))
    if not drill:
        query = query.where(~exists().where(col(Alert.id) == col(TimelineEntry.alert_id), drill_alert()))
    return _run(session, query.order_by(col(TimelineEntry.id)).limit(limit))


def incident_timeline_chunk(
    session: Session, start: datetime, end: datetime, drill: bool, after: int, limit: int
) -> list[Row]:
    query = sql_select(
        col(IncidentEvent.id),
        literal("incident"),
        col(IncidentEvent.incident_id),
        col(IncidentEvent.id),
        col(IncidentEvent.at),
        col(IncidentEvent.kind),
        col(IncidentEvent.actor),
        col(IncidentEvent.message),
        col(IncidentEvent.data),
    ).where(col(IncidentEvent.id) > after, _in(col(IncidentEvent.at), start, end))
    if not drill:
        query = query.where(~_drill_incident(col(IncidentEvent.incident_id)))
    return _run(session, query.order_by(col(IncidentEvent.id)).limit(limit))


def actions_chunk(
    session: Session, start: datetime, end: datetime, drill: bool, after: int, limit: int
) -> list[Row]:
    query = (
        sql_select(
            col(ActionItem.id),
            col(ActionItem.id),
            col(ActionItem.incident_id),
            col(ActionItem.title),
            col(User.handle),
            col(ActionItem.due_on),
            col(ActionItem.status),
            col(ActionItem.link),
            col(ActionItem.created_by),
            col(ActionItem.created_at),
            col(ActionItem.done_at),
        )
        .join(User, col(User.id) == col(ActionItem.owner_user_id))
        .where(col(ActionItem.id) > after, _in(col(ActionItem.created_at), start, end))
    )
    if not drill:
        query = query.where(~_drill_incident(col(ActionItem.incident_id)))
    return _run(session, query.order_by(col(ActionItem.id)).limit(limit))
