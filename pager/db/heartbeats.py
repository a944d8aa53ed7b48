"""Worker heartbeat rows (`worker_heartbeats`): one per running worker. The caller owns the session.

A heartbeat write must never hold up the worker's loops or the HTTP server, so it goes through an
engine of its own (`heartbeat_engine`) that waits only briefly for the database: SQLite's busy
timeout is HEARTBEAT_WAIT; on Postgres connecting and each statement are bounded the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, func, text, update
from sqlmodel import Session, col, select

from pager.db.backlog import aware
from pager.db.session import create_db_engine, is_postgres
from pager.db.tables import WorkerHeartbeat

HEARTBEAT_WAIT = timedelta(seconds=2)
# Rows of workers that died without deleting theirs are removed when a worker starts, after this.
FORGET_DEAD_AFTER = timedelta(days=1)


def heartbeat_engine(engine: Engine) -> Engine:
    """An engine on `engine`'s database for heartbeat writes, waiting at most HEARTBEAT_WAIT.

    An in-memory SQLite database cannot be opened twice: `engine` itself is returned then.
    """
    url = engine.url
    wait_ms = int(HEARTBEAT_WAIT.total_seconds() * 1000)
    if url.get_backend_name() == "postgresql":
        seconds = str(max(1, wait_ms // 1000))
        return create_db_engine(url.update_query_dict({"connect_timeout": seconds}))
    if url.database in (None, "", ":memory:") or url.query.get("mode") == "memory":
        return engine
    return create_db_engine(url, sqlite_busy_timeout_ms=wait_ms)


def bound_statements(session: Session, limit: timedelta = HEARTBEAT_WAIT) -> None:
    """On Postgres, let no statement of this transaction run longer than `limit` (SQLite: no-op)."""
    if is_postgres(session):
        session.execute(text(f"SET LOCAL statement_timeout = {int(limit.total_seconds() * 1000)}"))


def register(session: Session, worker_id: str, hostname: str, pid: int, now: datetime) -> None:
    """Add this worker's row (beat_at = now) and forget rows of workers dead for FORGET_DEAD_AFTER."""
    session.execute(delete(WorkerHeartbeat).where(col(WorkerHeartbeat.beat_at) < now - FORGET_DEAD_AFTER))
    session.add(WorkerHeartbeat(worker_id=worker_id, hostname=hostname, pid=pid, started_at=now, beat_at=now))


def beat(session: Session, worker_id: str, at: datetime) -> bool:
    """Move the worker's `beat_at` to `at`; False when its row is gone (the caller registers again)."""
    moved = session.execute(
        update(WorkerHeartbeat).where(col(WorkerHeartbeat.worker_id) == worker_id).values(beat_at=at)
    )
    return bool(getattr(moved, "rowcount", 0))


def remove(session: Session, worker_id: str) -> None:
    """Delete the worker's row (it stops cleanly)."""
    session.execute(delete(WorkerHeartbeat).where(col(WorkerHeartbeat.worker_id) == worker_id))


def newest_beat(session: Session) -> datetime | None:
    """The newest `beat_at` of any worker (None: no worker row)."""
    newest = session.exec(select(func.max(WorkerHeartbeat.beat_at))).one()
    return None if newest is None else aware(newest)
