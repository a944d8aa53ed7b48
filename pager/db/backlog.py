"""What is waiting for the worker: the earliest due page and timer, alerts and pages counted by state.

Read by the worker (when to wake), /readyz (is anything overdue) and /metrics. The caller owns the
session; every query here only reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, Select, func, literal_column
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from pager.db.outbox import outbox_ready_at
from pager.db.tables import Alert, OutboxMessage

WAITING_PAGE_STATUSES = ("pending", "unknown")  # outbox rows that still need the worker
# ... of which the delivery loop sends only these; uncertain ones are the reconcile job's
PENDING_PAGE_STATUSES = ("pending",)
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
    return _earliest_of(session.connection(), statuses)


def _earliest_of(connection: Connection, statuses: tuple[str, ...]) -> datetime | None:
    found = [due for due in connection.execute(_earliest_ready(statuses)).one() if due is not None]
    return aware(min(found)) if found else None


class PendingPageProbe:
    """Postgres: `earliest_page_ready` of pending pages, read on a connection of its own in autocommit
    mode, kept open between reads (the worker's delivery loop asks on every wake-up, and usually the
    other worker has taken the page already).

    One round trip and no transaction: a read in a session of its own also checks a connection out
    of the pool, pings it, and sends BEGIN and COMMIT; 0.7 of its 1.0 ms (docs/delivery.md, "When
    the delivery loop wakes"). Autocommit holds no snapshot between reads, so vacuum is never held
    back. A failed read closes the connection and raises; the next read opens another. Use from one
    thread.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    def read(self) -> datetime | None:
        """The earliest instant a pending page may be sent (None: none pending)."""
        if self._connection is None:
            self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            ready = _earliest_of(self._connection, PENDING_PAGE_STATUSES)
            self._connection.commit()  # no round trip in autocommit: ends SQLAlchemy's own bookkeeping
        except BaseException:
            self.close()
            raise
        return ready

    def close(self) -> None:
        """Close the connection (the next read opens another), not from another thread during a read.
        It is closed, not handed back to the pool: after a failed read there is nothing to reset."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.invalidate()
            connection.close()


@lru_cache(maxsize=8)
def _earliest_ready(statuses: tuple[str, ...]) -> Select[Any]:
    ready_at = outbox_ready_at()
    # Per status, the first in the index (status, ready_at): one probe. Written as ORDER BY … LIMIT 1,
    # not min(): without statistics (a new database's first storm) Postgres planned min() as an
    # aggregate over every pending page, thousands held back by the throttle, on every wake-up.
    return sql_select(
        *(
            sql_select(ready_at)
            .where(col(OutboxMessage.status) == status, ready_at.is_not(None))
            .order_by(ready_at)
            .limit(literal_column("1"))
            .scalar_subquery()
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
