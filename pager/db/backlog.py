"""What is waiting for the worker: the earliest due page and timer, alerts and pages counted by state.

Read by the worker (when to wake), /readyz (is anything overdue) and /metrics. The caller owns the
session; every query here only reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, func
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from pager.db.outbox import outbox_ready_at
from pager.db.tables import Alert, OutboxMessage

WAITING_PAGE_STATUSES = ("pending", "unknown")  # outbox rows that still need the worker
OPEN_ALERT_STATUSES = ("triggered", "acknowledged", "suppressed")


def aware(instant: datetime) -> datetime:
    """`instant` as aware UTC (aggregates bypass the column type, so SQLite hands back naive UTC)."""
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant


def earliest_alert_timer(session: Session) -> datetime | None:
    """The earliest `next_action_at` of an open alert (None: no timer set)."""
    due = session.exec(select(func.min(Alert.next_action_at)).where(col(Alert.status) != "resolved")).one()
    return None if due is None else aware(due)


def earliest_page_ready(
    session: Session, statuses: tuple[str, ...] = WAITING_PAGE_STATUSES
) -> datetime | None:
    """The earliest instant a queued or uncertain page (of `statuses`) needs attention (None: none)."""
    # The worker's delivery loop reads this after every claim: a Core statement built once, not an
    # ORM execution (its compile state and cache key were most of the cost).
    found = [due for due in session.connection().execute(_earliest_ready(statuses)).one() if due is not None]
    return aware(min(found)) if found else None


@lru_cache(maxsize=8)
def _earliest_ready(statuses: tuple[str, ...]) -> Select[Any]:
    ready_at = outbox_ready_at()
    # One min() per status: with `status =` the index (status, ready_at) answers each with one probe.
    return sql_select(
        *(
            sql_select(func.min(ready_at)).where(col(OutboxMessage.status) == status).scalar_subquery()
            for status in statuses
        )
    )


def open_alerts_by_status(session: Session) -> dict[str, int]:
    """Open alerts counted per status (resolved ones are left out: they only ever accumulate)."""
    query = (
        sql_select(col(Alert.status), func.count())
        .where(col(Alert.status).in_(OPEN_ALERT_STATUSES))
        .group_by(col(Alert.status))
    )
    counts = {status: 0 for status in OPEN_ALERT_STATUSES}
    counts.update({status: int(count) for status, count in session.execute(query)})
    return counts


def pages_by_method_and_status(session: Session) -> dict[tuple[str, str], int]:
    """Every outbox row counted per (method, status): one grouped scan of the outbox."""
    query = sql_select(col(OutboxMessage.method), col(OutboxMessage.status), func.count()).group_by(
        col(OutboxMessage.method), col(OutboxMessage.status)
    )
    return {(method, status): int(count) for method, status, count in session.execute(query)}
