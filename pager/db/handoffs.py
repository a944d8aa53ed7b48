"""Handoff cursors and notes (`handoff_cursors`, `handoff_notes`), people's reminder settings, and the
open alerts a handoff message names. The caller owns the session and its transaction; writes only flush.

Locking the cursors is what makes one handoff job run at a time per schedule: on Postgres the rows
are locked `FOR UPDATE` (in schedule id order, so two workers never deadlock) until the transaction
that sends the messages commits; the second worker then reads the moved cursor. On SQLite the
session's `BEGIN IMMEDIATE` makes the job's transaction the only writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from pager.core.model import Role
from pager.db.session import is_postgres
from pager.db.tables import Alert, HandoffCursor, HandoffNote, OutboxMessage, User

_OPEN = ("triggered", "acknowledged")


@dataclass(frozen=True)
class Cursor:
    """A schedule's handoff cursor: checked from `since` up to `until`; `new` when just created."""

    since: datetime
    until: datetime
    new: bool


def lock_cursors(session: Session, schedule_ids: Sequence[str], now: datetime) -> dict[str, Cursor]:
    """Each schedule's cursor, the rows locked until commit; a schedule never checked before gets
    one at `now` (`new`)."""
    if not schedule_ids:
        return {}
    table = HandoffCursor.metadata.tables["handoff_cursors"]
    rows = [{"schedule_id": sid, "checked_since": now, "checked_until": now} for sid in schedule_ids]
    dialect = postgresql if is_postgres(session) else sqlite
    insert = dialect.insert(table).values(rows).on_conflict_do_nothing(index_elements=["schedule_id"])
    created = set(session.execute(insert.returning(table.c.schedule_id)).scalars())
    query = (
        select(HandoffCursor)
        .where(col(HandoffCursor.schedule_id).in_(list(schedule_ids)))
        .order_by(col(HandoffCursor.schedule_id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {
        row.schedule_id: Cursor(row.checked_since, row.checked_until, row.schedule_id in created)
        for row in session.exec(query)
    }


def read_cursors(session: Session, schedule_ids: Sequence[str]) -> dict[str, Cursor]:
    """The cursors that exist among `schedule_ids`, read without a lock (`new` is False)."""
    query = select(HandoffCursor).where(col(HandoffCursor.schedule_id).in_(list(schedule_ids)))
    return {
        row.schedule_id: Cursor(row.checked_since, row.checked_until, False) for row in session.exec(query)
    }


def move_cursor(session: Session, schedule_id: str, checked_until: datetime) -> None:
    """Set the (locked) cursor of `schedule_id`."""
    session.execute(
        update(HandoffCursor)
        .where(col(HandoffCursor.schedule_id) == schedule_id)
        .values(checked_until=checked_until)
    )


def queued_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of these outbox idempotency keys are queued already (any status)."""
    if not keys:
        return set()
    query = select(OutboxMessage.idempotency_key).where(col(OutboxMessage.idempotency_key).in_(list(keys)))
    return set(session.exec(query))


def pending_notes(session: Session, schedule_id: str) -> dict[Role, HandoffNote]:
    """The notes of `schedule_id` not yet sent, by role."""
    query = select(HandoffNote).where(col(HandoffNote.schedule_id) == schedule_id)
    return {note.role: note for note in session.exec(query)}


def put_note(session: Session, schedule_id: str, role: str, text: str, now: datetime) -> None:
    """Store the note for the next handoff of (`schedule_id`, `role`), replacing one not yet sent."""
    table = HandoffNote.metadata.tables["handoff_notes"]
    dialect = postgresql if is_postgres(session) else sqlite
    statement = dialect.insert(table).values(schedule_id=schedule_id, role=role, text=text, written_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["schedule_id", "role"], set_={"text": text, "written_at": now}
        )
    )


def delete_note(session: Session, note_id: int) -> None:
    """Forget a note (it was sent)."""
    session.execute(delete(HandoffNote).where(col(HandoffNote.id) == note_id))


def remind_befores(session: Session) -> dict[str, int]:
    """Every person's reminder setting in seconds, by handle (people without one are left out)."""
    query = select(User.handle, User.remind_before_seconds).where(
        col(User.remind_before_seconds).is_not(None)
    )
    return {handle: seconds for handle, seconds in session.exec(query) if seconds is not None}


def set_remind_before_seconds(session: Session, user_id: int, seconds: int | None) -> None:
    """Set (or with None clear) a person's reminder setting."""
    session.execute(update(User).where(col(User.id) == user_id).values(remind_before_seconds=seconds))


def open_alerts_of_services(
    session: Session, service_ids: Sequence[str], limit: int
) -> tuple[int, list[tuple[int, str, str]]]:
    """How many alerts of these services are open, and the oldest `limit` as (id, service, summary)."""
    if not service_ids:
        return 0, []
    where = (col(Alert.service_id).in_(list(service_ids)), col(Alert.status).in_(_OPEN))
    count = session.exec(select(func.count()).select_from(Alert).where(*where)).one()
    query = (
        select(Alert.id, Alert.service_id, Alert.summary).where(*where).order_by(col(Alert.id)).limit(limit)
    )
    return int(count), [
        (alert_id or 0, service, summary) for alert_id, service, summary in session.exec(query)
    ]
