"""Heartbeat monitors as admins see them: service, name, beat URL, last beat and state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from pager.core.heartbeat_monitors import MonitorState, state_at
from pager.db.heartbeat_monitors import active_monitors
from pager.db.session import session_scope


@dataclass(frozen=True)
class MonitorView:
    """One declared monitor at an instant. `url` holds its secret key: for admins only."""

    service: str
    name: str
    url: str
    last_beat_at: datetime | None
    state: MonitorState


def beat_url(public_url: str, key: str) -> str:
    """The URL a job beats: `<public URL>/heartbeat/<key>`."""
    return f"{public_url.rstrip('/')}/heartbeat/{key}"


def list_monitors(session: Session, public_url: str, now: datetime) -> list[MonitorView]:
    """Every declared (not retired) monitor, by service and name, with its state at `now`."""
    return [
        MonitorView(
            service=row.service_id,
            name=row.name,
            url=beat_url(public_url, row.key),
            last_beat_at=row.last_beat_at,
            state=state_at(
                row.last_beat_at,
                timedelta(seconds=row.every_seconds),
                timedelta(seconds=row.grace_seconds),
                now,
                missed=row.missed_at is not None,
            ),
        )
        for row in active_monitors(session)
    ]


def monitors_now(engine: Engine, public_url: str, now: datetime) -> list[MonitorView]:
    """`list_monitors` in a read-only transaction of its own (the command line's)."""
    with session_scope(engine, read_only=True) as session:
        return list_monitors(session, public_url, now)
