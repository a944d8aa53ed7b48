"""Schedule overrides: someone else holds a role for a while (stored in the database)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from pager.config.loader import LoadedConfig
from pager.core.localtime import require_aware
from pager.core.model import ROLES, Override, Role
from pager.db import overrides as stored_overrides
from pager.db.session import session_scope
from pager.db.tables import OverrideRow
from pager.services.errors import InvalidInput, NotFound
from pager.services.people.users import require_user


def add_override(
    session: Session,
    config: LoadedConfig,
    *,
    schedule_id: str,
    role: str,
    user: str,
    start: datetime,
    end: datetime,
    now: datetime,
    created_by: str | None = None,
) -> OverrideRow:
    """Validate and store an override: known schedule and user, a real role, end after start."""
    if schedule_id not in config.schedules:
        raise NotFound(f"no schedule {schedule_id!r}")
    if role not in ROLES:
        raise InvalidInput(f"role must be primary or secondary, not {role!r}")
    start, end = require_aware(start), require_aware(end)
    if end <= start:
        raise InvalidInput(f"override must end after it starts ({end.isoformat()} <= {start.isoformat()})")
    require_user(session, user)
    checked_role: Role = "primary" if role == "primary" else "secondary"
    return stored_overrides.add_override(
        session, Override(schedule_id, checked_role, start, end, user), now=now, created_by=created_by
    )


def list_overrides(session: Session, schedule_id: str | None = None) -> list[OverrideRow]:
    """Stored overrides, optionally of one schedule, in creation order."""
    return stored_overrides.override_rows_oldest_first(session, schedule_id)


def delete_override(session: Session, override_id: int) -> None:
    """Remove an override; NotFound when there is none with that id."""
    row = session.get(OverrideRow, override_id)
    if row is None:
        raise NotFound(f"no override {override_id}")
    session.delete(row)
    session.flush()


def overrides_for(session: Session, schedule_id: str, start: datetime, end: datetime) -> list[Override]:
    """Overrides of `schedule_id` meeting [start, end), as the calculator takes them."""
    return stored_overrides.overrides_overlapping(session, schedule_id, start, end)


def overrides_of(
    engine: Engine, schedule_ids: Iterable[str], start: datetime, end: datetime
) -> list[Override]:
    """Overrides of these schedules meeting [start, end), read in a transaction of their own."""
    with session_scope(engine, read_only=True) as session:
        return [
            override
            for schedule_id in schedule_ids
            for override in overrides_for(session, schedule_id, start, end)
        ]
