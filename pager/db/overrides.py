"""Schedule overrides (table `overrides`). The caller owns the session and its transaction."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, null, union_all
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from pager.core.model import Override
from pager.db.tables import OverrideRow, User


def add_override(
    session: Session, override: Override, *, now: datetime, created_by: str | None = None
) -> OverrideRow:
    """Store `override` (any kind); `end <= start` raises IntegrityError (CHECK constraint)."""
    row = OverrideRow(
        schedule_id=override.schedule,
        role=override.role,
        user_handle=override.user,
        start=override.start,
        end=override.end,
        created_by=created_by,
        created_at=now,
        kind=override.kind,
        instead_of=override.instead_of,
    )
    session.add(row)
    session.flush()
    return row


def override_rows_oldest_first(
    session: Session,
    schedule_id: str | None = None,
    ending_after: datetime | None = None,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[OverrideRow]:
    """Stored override rows, in creation order: of one schedule when `schedule_id` is given, only
    those ending after `ending_after` when it is (the past ones, which only accumulate, are left out
    by the query, which ix_overrides_schedule_id_end can serve); `limit` rows from `offset` on when
    a limit is given."""
    query = select(OverrideRow).order_by(col(OverrideRow.id)).offset(offset).limit(limit)
    if schedule_id is not None:
        query = query.where(OverrideRow.schedule_id == schedule_id)
    if ending_after is not None:
        query = query.where(col(OverrideRow.end) > ending_after)
    return list(session.exec(query))


def overrides_overlapping(
    session: Session, schedule_id: str, start: datetime, end: datetime
) -> list[Override]:
    """Overrides of `schedule_id` whose `[start, end)` meets the window `[start, end)`.

    Returned in creation order, so where two overlap the later-created one comes later.
    """
    params = {"schedule_id": schedule_id, "window_start": start, "window_end": end}
    rows = session.connection().execute(_overrides_query(), params)
    return [
        Override(schedule_id, row.role, row.start, row.end, row.user_handle, row.kind, row.instead_of)
        for row in rows
    ]


@lru_cache(maxsize=1)
def _overrides_query() -> Any:
    # Built and compiled once: every trigger and escalation reads overrides.
    c = OverrideRow.metadata.tables["overrides"].c
    return (
        sql_select(c.role, c.start, c.end, c.user_handle, c.kind, c.instead_of)
        .where(
            c.schedule_id == bindparam("schedule_id"),
            c.start < bindparam("window_end", type_=c.start.type),
            c.end > bindparam("window_start", type_=c.end.type),
        )
        .order_by(c.id)
    )


def overrides_and_deactivated(
    session: Session, schedule_id: str, start: datetime, end: datetime
) -> tuple[list[Override], list[str]]:
    """`overrides_overlapping`, and the handles of everyone deactivated (sorted), in one statement: the
    engine needs both to say who a schedule means, and reads them together when it has neither."""
    params = {"schedule_id": schedule_id, "window_start": start, "window_end": end}
    stored: list[Override] = []
    deactivated: list[str] = []
    for row in session.connection().execute(_overrides_and_deactivated_query(), params):
        if row.role is None:  # the second part: a deactivated person
            deactivated.append(row.user_handle)
        else:
            stored.append(
                Override(schedule_id, row.role, row.start, row.end, row.user_handle, row.kind, row.instead_of)
            )
    return stored, sorted(deactivated)


@lru_cache(maxsize=1)
def _overrides_and_deactivated_query() -> Any:
    c = OverrideRow.metadata.tables["overrides"].c
    u = User.metadata.tables["users"].c
    stored = sql_select(c.id, c.role, c.start, c.end, c.user_handle, c.kind, c.instead_of).where(
        c.schedule_id == bindparam("schedule_id"),
        c.start < bindparam("window_end", type_=c.start.type),
        c.end > bindparam("window_start", type_=c.end.type),
    )
    deactivated = sql_select(null(), null(), null(), null(), u.handle, null(), null()).where(
        u.deactivated_at.is_not(None)
    )
    both = union_all(stored, deactivated)
    return both.order_by(both.selected_columns.id)
