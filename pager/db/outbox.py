"""Pages to send (table `outbox`): queued, claimed, settled by reports. The caller owns the session and
its transaction; writes only flush.

Claiming due work is safe with several workers: on Postgres the claim selects with
`FOR UPDATE SKIP LOCKED`, so two workers never lock the same row; on SQLite the session's
`BEGIN IMMEDIATE` (pager.db.session) makes the claiming transaction the only writer, so the next
claimer sees the first one's committed changes. Both need a write session (not `read_only`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, func, or_, update
from sqlalchemy import select as sql_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from pager.db.bulk_rows import execute_records, execute_rows, recordset
from pager.db.columns import key_starts_with
from pager.db.session import is_postgres
from pager.db.tables import OutboxMessage
from pager.db.value_lists import among


def upsert_outbox(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows (dicts of column values, unique keys, all with the same columns).

    A key that already exists is left alone, except that a still-pending row whose new `due_at` is
    earlier is brought forward (a fallback after a failed page). Concurrent writers of the same key
    cannot fail each other: the database decides, row by row. One statement run over all rows
    (executemany), so it is compiled once per process, however many rows there are.
    """
    if not rows:
        return
    if is_postgres(session):
        execute_records(session, _outbox_upsert("postgresql", tuple(rows[0])), rows)
    else:
        execute_rows(session, _outbox_upsert("sqlite", ()), rows)


@lru_cache(maxsize=4)
def _outbox_upsert(dialect: str, record_columns: tuple[str, ...]) -> Any:
    table = OutboxMessage.metadata.tables["outbox"]
    if dialect == "postgresql":
        source = sql_select(recordset(table, record_columns))
        statement: Any = postgresql.insert(table).from_select(record_columns, source)
    else:
        statement = sqlite.insert(table)
    earlier = case(
        (statement.excluded.due_at < table.c.due_at, statement.excluded.due_at), else_=table.c.due_at
    )
    return statement.on_conflict_do_update(
        index_elements=["idempotency_key"],
        set_={"due_at": earlier, "updated_at": statement.excluded.updated_at},
        where=and_(table.c.status == "pending", statement.excluded.due_at < table.c.due_at),
    )


@dataclass(frozen=True)
class ClaimedPage:
    """A page claimed for sending: what the sender needs, as plain values."""

    id: int
    alert_id: int | None  # None for a notice
    idempotency_key: str
    method: str  # a ContactKind by the table's CHECK; the sender still checks it
    address: str
    subject: str
    body: str
    user_handle: str
    cycle: int
    loop: int
    level: int
    step: int
    attempts: int  # counting this one
    last_error: str | None


def outbox_ready_at() -> Any:
    """When an outbox row may next be sent: its retry or deferral time, else when it fell due.

    Written exactly as in the index ix_outbox_status_ready_at, so queries on it use that index.
    """
    c = OutboxMessage.metadata.tables["outbox"].c
    return func.coalesce(c.next_attempt_at, c.due_at)


# Any fixed number: the key of the transaction-scoped advisory lock that claimers take in turn.
CLAIM_LOCK_KEY = 0x70616765  # "page"


def serialize_claims(session: Session) -> None:
    """Make this transaction's claim wait for any other worker's claim to commit (Postgres).

    The per-address throttle and the one-call-per-number rule are checked against the rows other
    claims have marked `sending`; two claims running side by side would each see only committed rows
    and could put two calls to one number in flight, which voice reconciliation relies on never
    happening. The advisory lock is held to the end of the transaction. SQLite needs nothing: its
    writer lock already makes claims take turns.
    """
    if is_postgres(session):
        session.connection().execute(_claim_lock())


@lru_cache(maxsize=1)
def _claim_lock() -> Any:
    return sql_select(func.pg_advisory_xact_lock(CLAIM_LOCK_KEY))


def due_outbox(session: Session, now: datetime, *, limit: int = 100) -> list[ClaimedPage]:
    """The pending pages that are due, oldest first, locked for this transaction (Postgres; SQLite's
    writer lock does that) but not yet marked: the caller marks those it sends (`mark_sending`).

    A page marked `sending` is never claimed again: once the transaction commits, the caller sends
    it and records the outcome; one left in `sending` is reconciled, not resent blindly.
    """
    rows = session.connection().execute(_due_query(), {"now": now, "limit": limit})
    return [
        ClaimedPage(
            id=row.id,
            alert_id=row.alert_id,
            idempotency_key=row.idempotency_key,
            method=row.method,
            address=row.address,
            subject=row.subject,
            body=row.body,
            user_handle=row.user_handle,
            cycle=row.cycle,
            loop=row.loop,
            level=row.level,
            step=row.step,
            attempts=row.attempts + 1,
            last_error=row.last_error,
        )
        for row in rows
    ]


@lru_cache(maxsize=1)
def _due_query() -> Any:
    c = OutboxMessage.metadata.tables["outbox"].c
    ready_at = outbox_ready_at()
    now = bindparam("now", type_=c.due_at.type)
    page_columns = (c.method, c.address, c.subject, c.body, c.user_handle, c.cycle, c.loop, c.level, c.step)
    return (
        sql_select(c.id, c.alert_id, c.idempotency_key, *page_columns, c.attempts, c.last_error)
        .where(c.status == "pending", ready_at <= now, c.due_at <= now)
        .order_by(ready_at, c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )


def mark_sending(session: Session, ids: list[int], now: datetime) -> None:
    """Mark the pages `ids` (taken by `due_outbox` in this transaction) `sending`: attempts + 1,
    last_attempt_at = now."""
    if ids:
        statement = _mark_sending(is_postgres(session))
        session.connection().execute(statement, {"ids": ids, "now": now})


@lru_cache(maxsize=2)
def _mark_sending(postgres: bool) -> Any:
    table = OutboxMessage.metadata.tables["outbox"]
    c = table.c
    now = bindparam("now", type_=c.updated_at.type)
    values = {"status": "sending", "attempts": c.attempts + 1, "last_attempt_at": now, "updated_at": now}
    return update(table).where(among(c.id, "ids", postgres=postgres)).values(values)


def _uncertain(now: datetime, lease_expired_before: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        or_(
            col(OutboxMessage.status).in_(["unknown"]),
            and_(
                col(OutboxMessage.status).in_(["sending"]),
                col(OutboxMessage.last_attempt_at) < lease_expired_before,
            ),
        ),
        or_(col(OutboxMessage.next_attempt_at).is_(None), col(OutboxMessage.next_attempt_at) <= now),
    )


def any_uncertain_outbox(session: Session, now: datetime, *, lease_expired_before: datetime) -> bool:
    """Whether `claim_uncertain_outbox` would find anything: a read, so that the reconcile job takes
    no write lock (on SQLite the one writer lock ingest needs) when there is nothing to reconcile."""
    query = select(OutboxMessage.id).where(*_uncertain(now, lease_expired_before)).limit(1)
    return session.exec(query).first() is not None


def claim_uncertain_outbox(
    session: Session, now: datetime, *, lease_expired_before: datetime, hold_until: datetime, limit: int = 100
) -> list[OutboxMessage]:
    """Pages whose outcome is unknown, or left `sending` by a worker whose lease ran out.

    They are marked `unknown` and held until `hold_until` so no other worker reconciles them at the
    same time; the caller asks the provider and records what it says.
    """
    query = (
        select(OutboxMessage)
        .where(*_uncertain(now, lease_expired_before))
        .order_by(col(OutboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    claimed = list(session.exec(query))
    for message in claimed:
        message.status = "unknown"
        message.next_attempt_at = hold_until
        message.updated_at = now
    session.flush()
    return claimed


def cancel_pending_outbox(session: Session, alert_id: int, now: datetime) -> int:
    """Cancel an alert's pages not yet sent (on ack or resolve); returns how many."""
    return len(_cancel_pending(session, col(OutboxMessage.alert_id) == alert_id, now))


def cancel_pending_for_user(session: Session, user_id: int, now: datetime) -> list[OutboxMessage]:
    """Cancel every page and notice of `user_id` not sent yet (they were deactivated); returns them."""
    return _cancel_pending(session, col(OutboxMessage.user_id) == user_id, now)


def _cancel_pending(session: Session, which: ColumnElement[bool], now: datetime) -> list[OutboxMessage]:
    """Mark the pending rows matching `which` cancelled (locked first, so a claim cannot take one
    meanwhile); returns them."""
    query = (
        select(OutboxMessage)
        .where(which, OutboxMessage.status == "pending")
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    pending = list(session.exec(query))
    for message in pending:
        message.status = "cancelled"
        message.updated_at = now
    session.flush()
    return pending


def notices_of_kind_since(session: Session, kind: str, user_id: int, since: datetime) -> int:
    """How many notices of `kind` (their key's first part, e.g. `verify`) `user_id` was sent since
    `since`: the keys starting `kind:` (`key_starts_with`, exact on the bytewise key column)."""
    query = select(func.count()).where(
        key_starts_with(col(OutboxMessage.idempotency_key), f"{kind}:"),
        OutboxMessage.user_id == user_id,
        OutboxMessage.created_at >= since,
    )
    return int(session.exec(query).one())


# --- who was paged -----------------------------------------------------------------------------------


def was_paged(session: Session, alert_id: int, user_id: int) -> bool:
    """True when the outbox holds a page of `alert_id` for `user_id` (any method, any status)."""
    query = select(OutboxMessage.id).where(
        OutboxMessage.alert_id == alert_id, OutboxMessage.user_id == user_id
    )
    return session.exec(query.limit(1)).first() is not None


def first_paged_user(session: Session, alert_id: int, user_ids: list[int]) -> int | None:
    """The lowest of `user_ids` with a page of `alert_id` attempted (None: none of them)."""
    query = (
        select(OutboxMessage.user_id)
        .where(
            OutboxMessage.alert_id == alert_id,
            col(OutboxMessage.user_id).in_(user_ids),
            col(OutboxMessage.last_attempt_at).is_not(None),
        )
        .order_by(col(OutboxMessage.user_id))
    )
    return session.exec(query).first()


# --- delivery reports --------------------------------------------------------------------------------


def lock_page_by_provider_id(session: Session, provider_id: str) -> OutboxMessage | None:
    """The page the provider knows as `provider_id`, freshly read and locked until commit."""
    return _locked_first(session, col(OutboxMessage.provider_id) == provider_id)


def lock_page_by_key(session: Session, idempotency_key: str) -> OutboxMessage | None:
    """The page with this idempotency key, freshly read and locked until commit."""
    return _locked_first(session, col(OutboxMessage.idempotency_key) == idempotency_key)


def _locked_first(session: Session, condition: ColumnElement[bool]) -> OutboxMessage | None:
    query = select(OutboxMessage).where(condition).with_for_update().execution_options(populate_existing=True)
    return session.exec(query).first()


def lock_statuses_among(
    session: Session, row_ids: Iterable[int], statuses: tuple[str, ...]
) -> dict[int, str]:
    """Of the pages `row_ids`, those now in one of `statuses`, with their status (rows locked until
    commit)."""
    query = _statuses_among(is_postgres(session))
    rows = session.connection().execute(query, {"ids": list(row_ids), "statuses": list(statuses)})
    return {row_id: status for row_id, status in rows}


@lru_cache(maxsize=2)
def _statuses_among(postgres: bool) -> Any:
    c = OutboxMessage.metadata.tables["outbox"].c
    return (
        sql_select(c.id, c.status)
        .where(among(c.id, "ids", postgres=postgres), among(c.status, "statuses", postgres=postgres))
        .with_for_update()
    )


def requeue_unsent(
    session: Session, claims: Iterable[tuple[int, int]], now: datetime, error: str
) -> list[int]:
    """Put claimed pages that no provider was asked about back to `pending`, due at `now`, with the
    attempt count they had before the claim and `error`; `claims` are (id, attempts counting that
    claim). Only a row still `sending` with that count is put back: one the reconcile sweep or a later
    claim took meanwhile is left alone. The ids put back."""
    table = OutboxMessage.metadata.tables["outbox"]
    c = table.c
    back = []
    for row_id, attempts in claims:
        claimed = update(table).where(c.id == row_id, c.status == "sending", c.attempts == attempts)
        values = {"status": "pending", "attempts": attempts - 1, "next_attempt_at": now}
        if session.connection().execute(claimed.values(**values, last_error=error, updated_at=now)).rowcount:
            back.append(row_id)
    return back


def insert_outbox_row(session: Session, row: dict[str, Any]) -> bool:
    """Insert one outbox row unless its `idempotency_key` is already there; True when it was inserted."""
    table = OutboxMessage.metadata.tables["outbox"]
    dialect = postgresql if is_postgres(session) else sqlite
    statement = dialect.insert(table).values(**row).on_conflict_do_nothing(index_elements=["idempotency_key"])
    return bool(session.execute(statement.returning(table.c.id)).first())


def cancel_pending_by_key_prefix(session: Session, key_prefix: str, now: datetime) -> int:
    """Cancel the pending outbox rows whose idempotency key starts with `key_prefix` (notices
    decided for one cause, e.g. one overdue status update); returns how many."""
    return len(_cancel_pending(session, key_starts_with(col(OutboxMessage.idempotency_key), key_prefix), now))
