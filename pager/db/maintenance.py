"""Ad-hoc maintenance windows (table `maintenance_windows`). The caller owns the session."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from pager.core.maintenance import AdHocWindow
from pager.db.tables import Alert, MaintenanceWindowRow


def add_window(
    session: Session,
    *,
    service_id: str,
    start_at: datetime,
    end_at: datetime,
    reason: str,
    created_by: str | None,
) -> MaintenanceWindowRow:
    """Store a window (its id is set on return)."""
    row = MaintenanceWindowRow(
        service_id=service_id,
        start_at=start_at,
        end_at=end_at,
        reason=reason,
        created_by=created_by,
        created_at=start_at,
    )
    session.add(row)
    session.flush()
    return row


def windows_ending_after(
    session: Session, service_id: str, instant: datetime, *, lock: bool = False
) -> list[MaintenanceWindowRow]:
    """The service's windows that end after `instant` (current and later ones), earliest first.

    `lock` locks them (and so serializes two starts on one service on Postgres).
    """
    query = (
        select(MaintenanceWindowRow)
        .where(MaintenanceWindowRow.service_id == service_id, col(MaintenanceWindowRow.end_at) > instant)
        .order_by(col(MaintenanceWindowRow.start_at), col(MaintenanceWindowRow.id))
    )
    if lock:
        query = query.with_for_update()
    return list(session.exec(query))


def windows_of_services(
    session: Session, service_ids: Collection[str], instant: datetime
) -> dict[str, list[AdHocWindow]]:
    """The windows of these services that end after `instant`, earliest first, by service id (a service
    with none is absent): one plain statement for a whole batch of decisions."""
    params = {"service_ids": list(service_ids), "instant": instant}
    found: dict[str, list[AdHocWindow]] = {}
    for row in session.connection().execute(_windows_query(), params):
        found.setdefault(row.service_id, []).append(AdHocWindow(row.id, row.start_at, row.end_at, row.reason))
    return found


@lru_cache(maxsize=1)
def _windows_query() -> Any:
    c = MaintenanceWindowRow.metadata.tables["maintenance_windows"].c
    return (
        sql_select(c.service_id, c.id, c.start_at, c.end_at, c.reason)
        .where(
            c.service_id.in_(bindparam("service_ids", expanding=True)),
            c.end_at > bindparam("instant", type_=c.end_at.type),
        )
        .order_by(c.start_at, c.id)
    )


def lock_window(session: Session, window_id: int) -> MaintenanceWindowRow | None:
    """Window `window_id`, locked until commit (None: no such window)."""
    query = (
        select(MaintenanceWindowRow)
        .where(MaintenanceWindowRow.id == window_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(query).first()


def newest_windows(
    session: Session, *, ending_after: datetime | None, limit: int
) -> list[MaintenanceWindowRow]:
    """Windows newest first; only those ending after `ending_after` when given."""
    query = select(MaintenanceWindowRow).order_by(col(MaintenanceWindowRow.id).desc()).limit(limit)
    if ending_after is not None:
        query = query.where(col(MaintenanceWindowRow.end_at) > ending_after)
    return list(session.exec(query))


def lock_suppressed_alerts(session: Session, service_id: str) -> list[Alert]:
    """The service's suppressed alerts, oldest first, locked until commit."""
    query = (
        select(Alert)
        .where(Alert.service_id == service_id, Alert.status == "suppressed")
        .order_by(col(Alert.id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(session.exec(query))
