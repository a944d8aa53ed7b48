"""A person's shift reminder: a message this long before each of their shifts starts.

docs/schedules.md, "Shift reminders". The worker's handoff job sends it
(pager.services.calendars.handoffs), once per shift, by the method of the person's first rule.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from pager.core.durations import format_duration
from pager.core.handoffs import MAX_REMIND_BEFORE
from pager.db.handoffs import set_remind_before_seconds
from pager.db.tables import User
from pager.services.errors import InvalidInput
from pager.services.people.users import require_user

# Whole minutes: the handoff job runs every few seconds, and nobody needs a reminder to the second.
_GRAIN = timedelta(minutes=1)


def set_remind_before(session: Session, handle: str, duration: timedelta | None, now: datetime) -> None:
    """Remind `handle` `duration` before each shift (None: no reminders).

    NotFound for an unknown handle; InvalidInput unless the duration is whole minutes from one
    minute to MAX_REMIND_BEFORE (7 days). `now` is the instant of the change (kept for symmetry
    with the other use cases; the job reads the setting at each run).
    """
    user = require_user(session, handle)
    if duration is not None:
        if duration < _GRAIN or duration % _GRAIN:
            raise InvalidInput(f"remind-before must be whole minutes, at least 1m, not {duration}")
        if duration > MAX_REMIND_BEFORE:
            raise InvalidInput(f"remind-before may be at most {MAX_REMIND_BEFORE.days} days")
    seconds = None if duration is None else int(duration.total_seconds())
    set_remind_before_seconds(session, user.id or 0, seconds)


def remind_before_text(user: User) -> str | None:
    """The user's reminder setting as people write it (`15m`, `1h`), None when they have none."""
    seconds = user.remind_before_seconds
    return None if seconds is None else format_duration(timedelta(seconds=seconds))
