"""Queries of `heartbeat_monitors`: the heartbeats services declare (not the worker's own liveness beat,
which is pager.db.heartbeats). The caller owns the session or connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func
from sqlalchemy import select as sql_select
from sqlalchemy import update as sql_update
from sqlmodel import Session, col, select

from pager.db.backlog import aware
from pager.db.tables import HeartbeatMonitor


@dataclass(frozen=True)
class DueMonitor:
    """A monitor whose timer has come, as plain values, its row locked by the claiming transaction."""

    id: int
    service_id: str
    name: str
    every_seconds: int
    grace_seconds: int
    last_beat_at: datetime | None
    due_at: datetime | None


def all_monitors(session: Session) -> list[HeartbeatMonitor]:
    """Every monitor row, retired ones too (the config sync compares them with the files)."""
    return list(session.exec(select(HeartbeatMonitor).order_by(col(HeartbeatMonitor.id))))


def active_monitors(session: Session) -> list[HeartbeatMonitor]:
    """The monitors still declared, by service and name."""
    query = (
        select(HeartbeatMonitor)
        .where(col(HeartbeatMonitor.retired_at).is_(None))
        .order_by(col(HeartbeatMonitor.service_id), col(HeartbeatMonitor.name))
    )
    return list(session.exec(query))


def active_monitor_keys(connection: Connection) -> list[str]:
    """The beat-URL keys of every active monitor. Reads only."""
    query = sql_select(col(HeartbeatMonitor.key)).where(col(HeartbeatMonitor.retired_at).is_(None))
    return [str(key) for key in connection.execute(query).scalars()]


def active_monitor_id(connection: Connection, key: str) -> int | None:
    """The id of the active monitor whose beat URL holds `key` (None: no such monitor). Reads only."""
    query = sql_select(col(HeartbeatMonitor.id)).where(
        col(HeartbeatMonitor.key) == key, col(HeartbeatMonitor.retired_at).is_(None)
    )
    found = connection.execute(query).scalar_one_or_none()
    return None if found is None else int(found)


def lock_active_monitor(session: Session, key: str) -> HeartbeatMonitor | None:
    """The active monitor holding `key`, its row locked until commit (a beat waits for a miss being
    raised on it, and the other way round)."""
    query = (
        select(HeartbeatMonitor)
        .where(col(HeartbeatMonitor.key) == key, col(HeartbeatMonitor.retired_at).is_(None))
        .with_for_update()
    )
    return session.exec(query).first()


def claim_missed_monitors(session: Session, now: datetime, *, limit: int = 100) -> list[DueMonitor]:
    """Active monitors whose `due_at` has come, earliest first, locked for this transaction.

    Rows another transaction holds are skipped (Postgres SKIP LOCKED; SQLite has one writer). Before
    committing, the caller must clear or move each one's `due_at`, or the next claimer takes it again.
    """
    m = HeartbeatMonitor
    columns = (m.id, m.service_id, m.name, m.every_seconds, m.grace_seconds, m.last_beat_at, m.due_at)
    query = (
        sql_select(*(col(c) for c in columns))
        .where(col(m.retired_at).is_(None), col(m.due_at) <= now)
        .order_by(col(m.due_at), col(m.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [DueMonitor(*row) for row in session.execute(query)]


def earliest_monitor_due(session: Session) -> datetime | None:
    """The earliest `due_at` of an active monitor (None: no timer set)."""
    query = select(func.min(HeartbeatMonitor.due_at)).where(col(HeartbeatMonitor.retired_at).is_(None))
    due = session.exec(query).one()
    return None if due is None else aware(due)


def mark_missed(session: Session, monitor_id: int, now: datetime) -> None:
    """Record that the monitor's miss was raised at `now`: its timer stops until the next beat."""
    query = (
        sql_update(HeartbeatMonitor)
        .where(col(HeartbeatMonitor.id) == monitor_id)
        .values(due_at=None, missed_at=now, updated_at=now)
    )
    session.execute(query)


def postpone(session: Session, monitor_id: int, until: datetime, now: datetime) -> None:
    """Move the monitor's timer to `until` (its miss could not be raised now: it is tried again then)."""
    query = (
        sql_update(HeartbeatMonitor)
        .where(col(HeartbeatMonitor.id) == monitor_id)
        .values(due_at=until, updated_at=now)
    )
    session.execute(query)
