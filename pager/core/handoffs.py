"""Handoffs and shift reminders: which instants change hands, and which messages are due by `now`.

Pure: the schedule, its stored overrides, the cursor and `now` are passed in. The rules are in
docs/schedules.md, "Handoff messages and shift reminders".

- A handoff is an instant h at which the holder of a role (final shifts: layers and overrides)
  changes, to someone or to nobody. `handoffs_between(after, until)` gives those with
  `after < h <= until`, so windows that follow each other (a cursor moving forward) see every
  handoff exactly once, however the windows are cut.
- A handoff message is due once h <= now; one still unsent when the incoming person's shift has
  already ended is stale and skipped, and no worker looks back further than MAX_CATCH_UP.
- A reminder of a shift starting at h is due at h - remind_before; one whose shift has started is
  skipped (the handoff message says it all then).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pager.core.model import ROLES, Handoff, Override, Role, Schedule
from pager.core.schedule import final_shifts

# How far back a worker that was down looks for handoffs it has not processed.
MAX_CATCH_UP = timedelta(days=1)
# The longest reminder a person may ask for (it is also how far ahead handoffs are looked for).
MAX_REMIND_BEFORE = timedelta(days=7)
# The end of an incoming person's shift is looked for this far ahead, widening only while it is cut.
_SHIFT_END_HORIZONS = (timedelta(days=2), timedelta(days=35))
_TICK = timedelta(microseconds=1)

MessageKind = Literal["handoff", "reminder"]


def handoffs_between(
    schedule: Schedule, role: Role, after: datetime, until: datetime, overrides: Sequence[Override] = ()
) -> list[Handoff]:
    """Every instant h with `after < h <= until` at which `role` changes hands, in time order.

    `from_user` / `to_user` are None where the role was / becomes nobody's (a gap).
    """
    if until <= after:
        return []
    shifts = final_shifts(schedule, role, after, until + _TICK, overrides)
    found: list[Handoff] = []
    previous_end: datetime | None = None
    previous_user: str | None = None
    for shift in shifts:
        if previous_end is not None and previous_end < shift.start and previous_end <= until:
            found.append(Handoff(role, previous_end, previous_user, None))  # a gap starts
            previous_user = None
        if shift.start > after:
            found.append(Handoff(role, shift.start, previous_user, shift.user))
        previous_end, previous_user = shift.end, shift.user
    if previous_end is not None and previous_end <= until:
        found.append(Handoff(role, previous_end, previous_user, None))
    return found


def shift_end(
    schedule: Schedule, role: Role, user: str, start: datetime, overrides: Sequence[Override] = ()
) -> datetime | None:
    """When `user`'s shift of `role` starting at `start` ends (None: not within ~35 days)."""
    for horizon in _SHIFT_END_HORIZONS:
        shifts = final_shifts(schedule, role, start, start + horizon, overrides)
        if not shifts or shifts[0].start != start or shifts[0].user != user:
            return start  # the person does not hold the role at `start`: a zero-length shift
        if shifts[0].end < start + horizon:
            return shifts[0].end
    return None


@dataclass(frozen=True)
class DueMessage:
    """A handoff message or a shift reminder that is due for `user` (`shift_start` names the shift)."""

    kind: MessageKind
    schedule: str
    role: Role
    user: str
    shift_start: datetime
    shift_end: datetime | None
    outgoing: str | None

    @property
    def key(self) -> str:
        """The outbox idempotency key: one message per (kind, schedule, role, shift start, person)."""
        start = self.shift_start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return f"{self.kind}:{self.schedule}:{self.role}:{start}:{self.user}"


@dataclass(frozen=True)
class DuePlan:
    """What one schedule's check at `now` decided: the messages due, stale ones skipped, the new cursor."""

    due: tuple[DueMessage, ...]
    skipped: tuple[DueMessage, ...]
    checked_until: datetime


def due_messages(
    schedule: Schedule,
    overrides: Sequence[Override],
    checked_until: datetime | None,
    now: datetime,
    remind_before: Mapping[str, timedelta],
) -> DuePlan:
    """The handoff messages and reminders of `schedule` that fell due in (checked_until, now].

    `checked_until` None (never checked) starts at `now`: nothing from before is sent. The window
    looks back at most MAX_CATCH_UP; a handoff message whose shift has ended by `now`, or a reminder
    whose shift has started, is in `skipped` instead. The cursor never moves backwards.
    """
    start = now if checked_until is None else max(checked_until, now - MAX_CATCH_UP)
    ahead = max((r for r in remind_before.values() if r > timedelta(0)), default=timedelta(0))
    ahead = min(ahead, MAX_REMIND_BEFORE)
    due: list[DueMessage] = []
    skipped: list[DueMessage] = []
    for role in ROLES:
        for handoff in handoffs_between(schedule, role, start, now + ahead, overrides):
            user = handoff.to_user
            if user is None:
                continue
            if handoff.at <= now:
                end = shift_end(schedule, role, user, handoff.at, overrides)
                message = DueMessage("handoff", schedule.id, role, user, handoff.at, end, handoff.from_user)
                (skipped if end is not None and end <= now else due).append(message)
                continue
            before = remind_before.get(user)
            if before is None or before <= timedelta(0) or before > MAX_REMIND_BEFORE:
                continue
            if start < handoff.at - before <= now:
                end = shift_end(schedule, role, user, handoff.at, overrides)
                due.append(
                    DueMessage("reminder", schedule.id, role, user, handoff.at, end, handoff.from_user)
                )
    due.sort(key=lambda m: (m.shift_start, ROLES.index(m.role), m.kind))
    cursor = now if checked_until is None else max(checked_until, now)
    return DuePlan(tuple(due), tuple(skipped), cursor)
