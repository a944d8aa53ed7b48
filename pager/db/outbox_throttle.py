"""The per-address throttle's reads of the outbox: an address's recent attempts, calls in flight, and
the end of its queue of held-back pages. The caller owns the session and its transaction.

Each runs in the claiming transaction, on every claim. They go through the indexes of migrations
0015 and 0003 on an address's pages, so their cost follows what they find, not how many pages were
ever sent or are held back (tests/db/test_outbox_query_plans.py). The counts' statuses are written
inline, in the words of their partial index's WHERE: that is how both planners know the index
holds every row the query wants, statistics or not (docs/database.md).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, func, literal_column, text
from sqlalchemy import select as sql_select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session

from pager.db.session import is_postgres
from pager.db.tables import ATTEMPTED_PAGE, OutboxMessage
from pager.db.value_lists import among


def attempt_counts_since(session: Session, since: datetime, addresses: set[str]) -> dict[str, int]:
    """Pages attempted (ATTEMPTED_STATUSES) after `since`, counted per address of `addresses` (an
    address with none is left out)."""
    params = {"addresses": list(addresses), "since": since}
    rows = session.connection().execute(_attempt_counts(is_postgres(session)), params)
    return {address: int(count) for address, count in rows if count}


@lru_cache(maxsize=2)
def _attempt_counts(postgres: bool) -> Any:
    c = OutboxMessage.metadata.tables["outbox"].c
    since = bindparam("since", type_=c.last_attempt_at.type)
    if not postgres:
        return (
            sql_select(c.address, func.count())
            .where(
                among(c.address, "addresses", postgres=False), c.last_attempt_at > since, text(ATTEMPTED_PAGE)
            )
            .group_by(c.address)
        )
    # One count per address, each `address = <one value>`. With `address = ANY(<array>)` the
    # generic plan of the prepared statement, made without knowing the array's length, took it for
    # ten addresses and preferred a status-led index: every attempted page of every address read.
    wanted = (
        func.unnest(bindparam("addresses", type_=ARRAY(c.address.type)))
        .table_valued("address")
        .render_derived(name="wanted")
    )
    counted = (
        sql_select(func.count())
        .where(c.address == wanted.c.address, c.last_attempt_at > since, text(ATTEMPTED_PAGE))
        .scalar_subquery()
    )
    return sql_select(wanted.c.address, counted)


def latest_attempts_since(session: Session, since: datetime, address: str, limit: int) -> list[datetime]:
    """When the latest `limit` pages to `address` attempted (ATTEMPTED_STATUSES) after `since` were
    tried, newest first."""
    params = {"address": address, "since": since, "limit": limit}
    rows = session.connection().execute(_latest_attempts(), params)
    return [at for (at,) in rows]


@lru_cache(maxsize=1)
def _latest_attempts() -> Any:
    c = OutboxMessage.metadata.tables["outbox"].c
    return (
        sql_select(c.last_attempt_at)
        .where(
            c.address == bindparam("address", type_=c.address.type),
            c.last_attempt_at > bindparam("since", type_=c.last_attempt_at.type),
            text(ATTEMPTED_PAGE),
        )
        .order_by(c.last_attempt_at.desc())
        .limit(bindparam("limit"))
    )


def numbers_called(session: Session, statuses: tuple[str, ...]) -> set[str]:
    """Numbers with a voice page in one of `statuses`."""
    query = _numbers_called(is_postgres(session))
    return set(session.connection().execute(query, {"statuses": list(statuses)}).scalars())


@lru_cache(maxsize=2)
def _numbers_called(postgres: bool) -> Any:
    c = OutboxMessage.metadata.tables["outbox"].c
    return sql_select(c.address).where(
        c.method == literal_column("'voice'"), among(c.status, "statuses", postgres=postgres)
    )


def pending_queue_end(
    session: Session, after: datetime, address: str, limit: int
) -> tuple[datetime | None, int]:
    """The latest `next_attempt_at` after `after` a pending page to `address` waits for, and how many
    wait for it (counted up to `limit`: the caller needs no more)."""
    params = {"address": address, "after": after, "limit": limit}
    instants = [at for (at,) in session.connection().execute(_queue_end(), params)]
    if not instants:
        return None, 0
    return instants[0], sum(1 for at in instants if at == instants[0])


@lru_cache(maxsize=1)
def _queue_end() -> Any:
    # One walk down the partial index from its end, `status = 'pending'` written as in its WHERE so
    # SQLite's planner matches it. A count of the pages at the end, as a query of its own, was
    # planned on the (address, status) index when the table had no statistics (SQLite gathers none
    # by itself): it read the whole queue, thousands of rows in a storm, on every claim.
    c = OutboxMessage.metadata.tables["outbox"].c
    return (
        sql_select(c.next_attempt_at)
        .where(
            c.address == bindparam("address", type_=c.address.type),
            c.status == literal_column("'pending'"),
            c.next_attempt_at > bindparam("after", type_=c.next_attempt_at.type),
        )
        .order_by(c.next_attempt_at.desc())
        .limit(bindparam("limit"))
    )
