"""Small typed queries over the tables. The caller owns the session and its transaction.

Claiming due work is safe with several workers: on Postgres the claim selects with
`FOR UPDATE SKIP LOCKED`, so two workers never lock the same row; on SQLite the session's
`BEGIN IMMEDIATE` (pager.db.session) makes the claiming transaction the only writer, so the next
claimer sees the first one's committed changes. Both need a write session (not `read_only`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, and_, bindparam, case, func, insert, or_, update
from sqlalchemy import select as sql_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col, select

from pager.core.model import Override
from pager.db.bulk_rows import execute_records, execute_rows, recordset
from pager.db.tables import (
    Alert,
    ContactKind,
    ContactMethod,
    NotificationRule,
    OutboxMessage,
    OverrideRow,
    TimelineEntry,
    User,
)


def create_user(
    session: Session, *, handle: str, name: str, now: datetime, time_zone: str | None = None
) -> User:
    """Add a user (flushed, so `id` is set); a taken handle raises IntegrityError."""
    user = User(handle=handle, name=name, time_zone=time_zone, created_at=now)
    session.add(user)
    session.flush()
    return user


def find_user_by_handle(session: Session, handle: str) -> User | None:
    """The user with this handle, if any."""
    return session.exec(select(User).where(User.handle == handle)).first()


def add_contact_method(
    session: Session, *, user_id: int, kind: ContactKind, address: str, now: datetime, verified: bool = False
) -> ContactMethod:
    """Add a contact method; the same (user, kind, address) twice raises IntegrityError."""
    method = ContactMethod(user_id=user_id, kind=kind, address=address, verified=verified, created_at=now)
    session.add(method)
    session.flush()
    return method


def contact_methods_of(session: Session, user_id: int) -> list[ContactMethod]:
    """A user's contact methods in the order they were added."""
    query = select(ContactMethod).where(ContactMethod.user_id == user_id).order_by(col(ContactMethod.id))
    return list(session.exec(query))


def add_notification_rule(
    session: Session,
    *,
    user_id: int,
    contact_method_id: int,
    delay_seconds: int,
    now: datetime,
    position: int = 0,
) -> NotificationRule:
    """Add a paging step: use `contact_method_id` `delay_seconds` after the user is paged."""
    rule = NotificationRule(
        user_id=user_id,
        contact_method_id=contact_method_id,
        delay_seconds=delay_seconds,
        position=position,
        created_at=now,
    )
    session.add(rule)
    session.flush()
    return rule


def notification_rules_of(session: Session, user_id: int) -> list[NotificationRule]:
    """A user's paging steps, earliest first (ties by position, then age)."""
    query = (
        select(NotificationRule)
        .where(NotificationRule.user_id == user_id)
        .order_by(
            col(NotificationRule.delay_seconds), col(NotificationRule.position), col(NotificationRule.id)
        )
    )
    return list(session.exec(query))


def add_override(
    session: Session, override: Override, *, now: datetime, created_by: str | None = None
) -> OverrideRow:
    """Store `override`; `end <= start` raises IntegrityError (CHECK constraint)."""
    row = OverrideRow(
        schedule_id=override.schedule,
        role=override.role,
        user_handle=override.user,
        start=override.start,
        end=override.end,
        created_by=created_by,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def overrides_overlapping(
    session: Session, schedule_id: str, start: datetime, end: datetime
) -> list[Override]:
    """Overrides of `schedule_id` whose `[start, end)` meets the window `[start, end)`.

    Returned in creation order, so where two overlap the later-created one comes later.
    """
    params = {"schedule_id": schedule_id, "window_start": start, "window_end": end}
    rows = session.connection().execute(_overrides_query(), params)
    return [Override(schedule_id, row.role, row.start, row.end, row.user_handle) for row in rows]


@lru_cache(maxsize=1)
def _overrides_query() -> Any:
    # Built and compiled once: every trigger and escalation reads overrides.
    c = OverrideRow.metadata.tables["overrides"].c
    return (
        sql_select(c.role, c.start, c.end, c.user_handle)
        .where(
            c.schedule_id == bindparam("schedule_id"),
            c.start < bindparam("window_end", type_=c.start.type),
            c.end > bindparam("window_start", type_=c.end.type),
        )
        .order_by(c.id)
    )


def find_open_alert(session: Session, service_id: str, dedup_key: str, *, lock: bool = False) -> Alert | None:
    """The alert still open (not resolved) for this dedup key; `lock` holds its row until commit."""
    query = select(Alert).where(
        Alert.service_id == service_id, Alert.dedup_key == dedup_key, Alert.status != "resolved"
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.exec(query).first()


def add_timeline_entry(
    session: Session,
    *,
    alert_id: int,
    at: datetime,
    kind: str,
    message: str,
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    """Append a line to an alert's timeline (written with the transaction's next flush)."""
    entry = TimelineEntry(alert_id=alert_id, at=at, kind=kind, message=message, data=data or {})
    session.add(entry)
    return entry


def timeline_of(session: Session, alert_id: int) -> list[TimelineEntry]:
    """An alert's timeline, oldest first."""
    query = (
        select(TimelineEntry)
        .where(TimelineEntry.alert_id == alert_id)
        .order_by(col(TimelineEntry.at), col(TimelineEntry.id))
    )
    return list(session.exec(query))


@dataclass(frozen=True)
class DueAlert:
    """What a timer decision reads of a claimed alert: plain values, not an ORM object."""

    id: int
    service_id: str
    summary: str
    escalation_state: Mapping[str, Any]


def claim_due_alerts(session: Session, now: datetime, *, limit: int = 100) -> list[DueAlert]:
    """Open alerts whose `next_action_at` has come, earliest first, locked for this transaction.

    The rows stay claimed only until the transaction ends: before committing, the caller must move
    each alert's `next_action_at` (or clear it), or the next claimer will take it again.
    """
    query = (
        select(Alert.id, Alert.service_id, Alert.summary, Alert.escalation_state)
        .where(Alert.status != "resolved", col(Alert.next_action_at) <= now)
        .order_by(col(Alert.next_action_at), col(Alert.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [DueAlert(a or 0, service, summary, state) for a, service, summary, state in session.exec(query)]


def update_rows(session: Session, model: type[SQLModel], changes: list[dict[str, Any]]) -> None:
    """Set columns of many rows of `model`'s table, in order: each change is `{"id": …, column: value,
    …}`; consecutive changes of the same columns go in one executemany."""
    table = model.metadata.tables[str(model.__tablename__)]
    postgres = _is_postgres(session)
    runs: list[tuple[tuple[str, ...], list[dict[str, Any]], set[Any]]] = []
    for change in changes:
        columns = tuple(change)
        # On Postgres a run is one UPDATE … FROM jsonb_to_recordset(…), which sets a row at most once.
        if not runs or runs[-1][0] != columns or (postgres and change["id"] in runs[-1][2]):
            runs.append((columns, [], set()))
        runs[-1][1].append(change)
        runs[-1][2].add(change["id"])
    for columns, rows, _ids in runs:
        if postgres:
            execute_records(session, _records_update(table, columns), rows)
        else:
            renamed = [{f"new_{name}": value for name, value in row.items()} for row in rows]
            execute_rows(session, _row_update(table, columns), renamed)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@lru_cache(maxsize=32)
def _records_update(table: Table, columns: tuple[str, ...]) -> Any:
    rows = recordset(table, columns)
    return update(table).where(table.c.id == rows.c.id).values({n: rows.c[n] for n in columns if n != "id"})


@lru_cache(maxsize=32)
def _row_update(table: Table, columns: tuple[str, ...]) -> Any:
    # Bind names differ from column names: SQLAlchemy reserves those for its own SET parameters.
    return (
        update(table)
        .where(table.c.id == bindparam("new_id"))
        .values({n: bindparam(f"new_{n}", type_=table.c[n].type) for n in columns if n != "id"})
    )


def insert_timeline_entries(session: Session, entries: list[dict[str, Any]]) -> None:
    """Append many timeline lines (dicts with alert_id, at, kind, message, data) in one statement."""
    if not entries:
        return
    if _is_postgres(session):
        execute_records(session, _timeline_insert_records(tuple(entries[0])), entries)
    else:
        execute_rows(session, _timeline_insert(), entries)


@lru_cache(maxsize=1)
def _timeline_insert() -> Any:
    return insert(TimelineEntry.metadata.tables["alert_timeline"])


@lru_cache(maxsize=4)
def _timeline_insert_records(columns: tuple[str, ...]) -> Any:
    table = TimelineEntry.metadata.tables["alert_timeline"]
    return insert(table).from_select(columns, sql_select(recordset(table, columns)))


def upsert_outbox(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows (dicts of column values, unique keys, all with the same columns).

    A key that already exists is left alone, except that a still-pending row whose new `due_at` is
    earlier is brought forward (a fallback after a failed page). Concurrent writers of the same key
    cannot fail each other: the database decides, row by row. One statement run over all rows
    (executemany), so it is compiled once per process, however many rows there are.
    """
    if not rows:
        return
    if _is_postgres(session):
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
    alert_id: int
    idempotency_key: str
    method: ContactKind
    address: str
    body: str
    attempts: int  # counting this one
    last_error: str | None


def outbox_ready_at() -> Any:
    """When an outbox row may next be sent: its retry or deferral time, else when it fell due.

    Written exactly as in the index ix_outbox_status_ready_at, so queries on it use that index.
    """
    c = OutboxMessage.metadata.tables["outbox"].c
    return func.coalesce(c.next_attempt_at, c.due_at)


def claim_due_outbox(session: Session, now: datetime, *, limit: int = 100) -> list[ClaimedPage]:
    """Take pending pages that are due and mark them `sending` (attempts + 1, last_attempt_at = now).

    A page marked `sending` is never claimed again: once this transaction commits, the caller
    sends it and records the outcome; one left in `sending` is reconciled, not resent blindly.
    """
    table = OutboxMessage.metadata.tables["outbox"]
    c = table.c
    ready_at = outbox_ready_at()
    query = (
        sql_select(c.id, c.alert_id, c.idempotency_key, c.method, c.address, c.body, c.attempts, c.last_error)
        .where(c.status == "pending", ready_at <= now, c.due_at <= now)
        .order_by(ready_at, c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = [
        ClaimedPage(row_id or 0, alert_id or 0, key, method, address, body, attempts + 1, error)
        for row_id, alert_id, key, method, address, body, attempts, error in session.execute(query)
    ]
    if claimed:
        mark = update(table).where(c.id.in_([page.id for page in claimed]))
        values = {"status": "sending", "attempts": c.attempts + 1, "last_attempt_at": now}
        session.execute(mark.values({**values, "updated_at": now}))
    return claimed


def claim_uncertain_outbox(
    session: Session, now: datetime, *, lease_expired_before: datetime, hold_until: datetime, limit: int = 100
) -> list[OutboxMessage]:
    """Pages whose outcome is unknown, or left `sending` by a worker whose lease ran out.

    They are marked `unknown` and held until `hold_until` so no other worker reconciles them at the
    same time; the caller asks the provider and records what it says.
    """
    query = (
        select(OutboxMessage)
        .where(
            or_(
                col(OutboxMessage.status).in_(["unknown"]),
                and_(
                    col(OutboxMessage.status).in_(["sending"]),
                    col(OutboxMessage.last_attempt_at) < lease_expired_before,
                ),
            ),
            or_(col(OutboxMessage.next_attempt_at).is_(None), col(OutboxMessage.next_attempt_at) <= now),
        )
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
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.alert_id == alert_id, OutboxMessage.status == "pending")
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    pending = list(session.exec(query))
    for message in pending:
        message.status = "cancelled"
        message.updated_at = now
    session.flush()
    return len(pending)


def was_paged(session: Session, alert_id: int, user_id: int) -> bool:
    """True when the outbox holds a page of `alert_id` for `user_id` (any method, any status)."""
    query = select(OutboxMessage.id).where(
        OutboxMessage.alert_id == alert_id, OutboxMessage.user_id == user_id
    )
    return session.exec(query.limit(1)).first() is not None
