"""The per-address throttle's reads of the outbox: an address's recent attempts, calls in flight, and
the end of its queue of held-back pages. The caller owns the session and its transaction.

Each runs in the claiming transaction, on every claim. They go through the indexes of migrations
0002 and 0003 on an address's pages, so their cost follows what they find, not how many pages were
ever sent or are held back (tests/db/test_outbox_query_plans.py).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, func, literal_column
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from pager.db.session import is_postgres
from pager.db.tables import OutboxMessage
from pager.db.value_lists import among


def attempt_counts_since(
    session: Session, since: datetime, addresses: set[str], statuses: tuple[str, ...]
) -> dict[str, int]:
    """Pages in `statuses` attempted after `since`, counted per address of `addresses`."""
    params = {"addresses": list(addresses), "since": since, "statuses": list(statuses)}
    rows = session.connection().execute(_attempt_counts(is_postgres(session)), params)
    return {address: int(count) for address, count in rows}


@lru_cache(maxsize=2)
def _attempt_counts(postgres: bool) -> Any:
    c = OutboxMessage.metadata.tables["outbox"].c
    return (
        sql_select(c.address, func.count())
        .where(
            among(c.address, "addresses", postgres=postgres),
            c.last_attempt_at > bindparam("since", type_=c.last_attempt_at.type),
            among(c.status, "statuses", postgres=postgres),
        )
        .group_by(c.address)
    )


def latest_attempts_since(
    session: Session,
    since: datetime,
    address: str,
    statuses: tuple[str, ...],
    limit: int,
) -> list[datetime]:
    """When the latest `limit` pages in `statuses` to `address` attempted after `since` were tried,
    newest first."""
    query = (
        select(OutboxMessage.last_attempt_at)
        .where(
            OutboxMessage.address == address,
            col(OutboxMessage.last_attempt_at) > since,
            col(OutboxMessage.status).in_(statuses),
        )
        .order_by(col(OutboxMessage.last_attempt_at).desc())
        .limit(limit)
    )
    return [at for at in session.exec(query) if at is not None]


def numbers_called(session: Session, statuses: tuple[str, ...]) -> set[str]:
    """Numbers with a voice page in one of `statuses`."""
    query = select(OutboxMessage.address).where(
        OutboxMessage.method == "voice", col(OutboxMessage.status).in_(statuses)
    )
    return set(session.exec(query))


def pending_queue_end(
    session: Session, after: datetime, address: str, limit: int
) -> tuple[datetime | None, int]:
    """The latest `next_attempt_at` after `after` a pending page to `address` waits for, and how many
    wait for it (counted up to `limit`: the caller needs no more)."""
    # One walk down the partial index from its end, `status = 'pending'` written as in its WHERE so
    # SQLite's planner matches it. A count of the pages at the end, as a query of its own, was
    # planned on the (address, status) index when the table had no statistics (SQLite gathers none
    # by itself): it read the whole queue, thousands of rows in a storm, on every claim.
    latest = (
        select(OutboxMessage.next_attempt_at)
        .where(
            OutboxMessage.address == address,
            col(OutboxMessage.status) == literal_column("'pending'"),
            col(OutboxMessage.next_attempt_at) > after,
        )
        .order_by(col(OutboxMessage.next_attempt_at).desc())
        .limit(limit)
    )
    instants = [at for at in session.exec(latest) if at is not None]
    if not instants:
        return None, 0
    return instants[0], sum(1 for at in instants if at == instants[0])
