"""Alerts and their timelines (tables `alerts`, `alert_timeline`). The caller owns the session and its
transaction; writes only flush.

Claiming due alerts is safe with several workers: on Postgres the claim selects with
`FOR UPDATE SKIP LOCKED`, so two workers never lock the same row; on SQLite the session's
`BEGIN IMMEDIATE` (pager.db.session) makes the claiming transaction the only writer, so the next
claimer sees the first one's committed changes. Both need a write session (not `read_only`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, insert, union_all
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from pager.db.bulk_rows import execute_records, execute_rows, recordset
from pager.db.session import is_postgres
from pager.db.tables import ALERT_STATUSES, Alert, OutboxMessage, TimelineEntry


def find_open_alert(session: Session, service_id: str, dedup_key: str, *, lock: bool = False) -> Alert | None:
    """The alert still open (not resolved) for this dedup key; `lock` holds its row until commit."""
    query = select(Alert).where(
        Alert.service_id == service_id, Alert.dedup_key == dedup_key, Alert.status != "resolved"
    )
    if lock:
        query = query.with_for_update(key_share=True).execution_options(populate_existing=True)
    return session.exec(query).first()


def lock_alert(session: Session, alert_id: int) -> Alert | None:
    """Alert `alert_id`, freshly read with its row locked until commit (None: no such alert)."""
    query = (
        select(Alert)
        .where(Alert.id == alert_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return session.exec(query).first()


def newest_alerts(
    session: Session, *, status: str | None, service_id: str | None, limit: int, offset: int
) -> list[Alert]:
    """Up to `limit` alerts after the first `offset`, newest first, of this status and service if given.

    Each filter is a walk down an index in the answer's order (docs/database.md, alerts). A service's
    alerts of every status are the newest `limit + offset` of each status, each a walk down
    ix_alerts_service_id_status_id (which orders a service's alerts within a status), merged.
    """
    if service_id is not None and status is None:
        table = Alert.__table__  # type: ignore[attr-defined]
        newest_of_each = [
            sql_select(table)
            .where(table.c.service_id == service_id, table.c.status == each)
            .order_by(table.c.id.desc())
            .limit(limit + offset)
            .subquery()
            for each in ALERT_STATUSES
        ]
        merged = union_all(*(sql_select(newest) for newest in newest_of_each)).subquery()
        page = sql_select(merged).order_by(merged.c.id.desc()).limit(limit).offset(offset)
        return list(session.scalars(sql_select(Alert).from_statement(page)))
    query = select(Alert).order_by(col(Alert.id).desc()).limit(limit).offset(offset)
    if status is not None:
        query = query.where(Alert.status == status)
    if service_id is not None:
        query = query.where(Alert.service_id == service_id)
    return list(session.exec(query))


def open_alerts_paged_to(session: Session, user_ids: list[int]) -> list[Alert]:
    """Open alerts with a page attempted to any of `user_ids`, oldest first.

    Read from the open alerts, each one's pages looked up by its id: the outbox keeps every page
    ever sent, and an SMS reply (which reads this in its write transaction) must not read them all.
    """
    paged = (
        select(OutboxMessage.id)
        .where(
            col(OutboxMessage.alert_id) == col(Alert.id),
            col(OutboxMessage.user_id).in_(user_ids),
            col(OutboxMessage.last_attempt_at).is_not(None),
        )
        .exists()
    )
    query = select(Alert).where(Alert.status != "resolved", paged).order_by(col(Alert.id))
    return list(session.exec(query))


@dataclass(frozen=True)
class DueAlert:
    """What a timer decision reads of a claimed alert: plain values, not an ORM object."""

    id: int
    service_id: str
    summary: str
    escalation_state: Mapping[str, Any]


def claim_due_alerts(session: Session, now: datetime, *, limit: int = 100) -> list[DueAlert]:
    """Open alerts whose `next_action_at` has come, earliest first, locked for this transaction.

    The rows stay claimed only until the transaction ends: before committing, the caller must move
    each alert's `next_action_at` (or clear it), or the next claimer will take it again.
    """
    # Through the connection, not the ORM session: the ORM's per-row loading was half of a claim.
    rows = session.connection().execute(_due_alerts_query(), {"now": now, "limit": limit})
    return [DueAlert(a, service, summary, state) for a, service, summary, state in rows]


@lru_cache(maxsize=1)
def _due_alerts_query() -> Any:
    c = Alert.metadata.tables["alerts"].c
    return (
        sql_select(c.id, c.service_id, c.summary, c.escalation_state)
        .where(c.status != "resolved", c.next_action_at <= bindparam("now", type_=c.next_action_at.type))
        .order_by(c.next_action_at, c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True, key_share=True)
    )


# --- the timeline ---------------------------------------------------------------------------------


def add_timeline_entry(
    session: Session,
    *,
    alert_id: int,
    at: datetime,
    kind: str,
    message: str,
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    """Append a line to an alert's timeline (written with the transaction's next flush)."""
    entry = TimelineEntry(alert_id=alert_id, at=at, kind=kind, message=message, data=data or {})
    session.add(entry)
    return entry


def timeline_of(session: Session, alert_id: int) -> list[TimelineEntry]:
    """An alert's timeline, oldest first."""
    query = (
        select(TimelineEntry)
        .where(TimelineEntry.alert_id == alert_id)
        .order_by(col(TimelineEntry.at), col(TimelineEntry.id))
    )
    return list(session.exec(query))


def timeline_entries_of_kind(session: Session, alert_id: int, kind: str) -> list[TimelineEntry]:
    """The lines of `kind` on an alert's timeline (in no particular order)."""
    query = select(TimelineEntry).where(TimelineEntry.alert_id == alert_id, TimelineEntry.kind == kind)
    return list(session.exec(query))


def insert_timeline_entries(session: Session, entries: list[dict[str, Any]]) -> None:
    """Append many timeline lines (dicts with alert_id, at, kind, message, data) in one statement."""
    if not entries:
        return
    if is_postgres(session):
        execute_records(session, _timeline_insert_records(tuple(entries[0])), entries)
    else:
        execute_rows(session, _timeline_insert(), entries)


@lru_cache(maxsize=1)
def _timeline_insert() -> Any:
    return insert(TimelineEntry.metadata.tables["alert_timeline"])


@lru_cache(maxsize=4)
def _timeline_insert_records(columns: tuple[str, ...]) -> Any:
    table = TimelineEntry.metadata.tables["alert_timeline"]
    return insert(table).from_select(columns, sql_select(recordset(table, columns)))
