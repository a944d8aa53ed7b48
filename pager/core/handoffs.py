"""Handoffs and shift reminders: which instants change hands, and which messages are due by `now`.

Pure: the schedule, its stored overrides, the cursor and `now` are passed in. The rules are in
docs/schedules.md, "Handoff messages and shift reminders".

- A handoff is an instant h at which the holder of a role (final shifts: layers and overrides)
  changes, to someone or to nobody. `handoffs_between(after, until)` gives those with
  `after < h <= until`, so windows that follow each other (a cursor moving forward) see every
  handoff exactly once, however the windows are cut.
- A handoff message is due once h <= now; one still unsent when the incoming person's shift has
  already ended is stale and skipped, and no worker looks back further than MAX_CATCH_UP.
- Each check also looks RECHECK back before its cursor: an override stored with a start a little in
  the past (typed "from now" a minute late) makes a handoff there, and its incoming person is still
  told. What was sent already is not sent again: the caller drops messages whose key it queued.
- A reminder of a shift starting at h is due at h - remind_before; one whose shift has started is
  skipped (the handoff message says it all then).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from pager.core.model import ROLES, Handoff, Override, Role, Schedule
from pager.core.schedule import final_shifts

# How far back a worker that was down looks for handoffs it has not processed.
MAX_CATCH_UP = timedelta(days=1)
# How far before its cursor each check looks again, for overrides stored with a start in the past.
RECHECK = timedelta(minutes=15)
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
    reminder_at: datetime | None = None  # a reminder's instant (a handoff message's is shift_start)

    @property
    def falls_due(self) -> datetime:
        """The instant the message is due: the shift start, or the reminder's instant before it."""
        return self.shift_start if self.reminder_at is None else self.reminder_at

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
    checked_since: datetime | None = None,
) -> DuePlan:
    """The handoff messages and reminders of `schedule` due in (checked_until - RECHECK, now].

    `checked_until` None (never checked) starts at `now`: nothing from before is sent, nor from
    before `checked_since` (the first check). The window looks back at most MAX_CATCH_UP. A
    handoff message whose shift has ended by `now` is left out, and listed in `skipped` when it is
    past the cursor (so it is reported once); a reminder whose shift has started is left out.
    Messages from the RECHECK part may have been sent by an earlier check: the caller drops those
    by key. The cursor never moves backwards.
    """
    if checked_until is None:
        start = now
    else:
        start = max(min(checked_until, now) - RECHECK, now - MAX_CATCH_UP)
        if checked_since is not None:
            start = max(start, checked_since)
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
                if end is None or end > now:
                    due.append(message)
                elif checked_until is None or handoff.at > checked_until:
                    skipped.append(message)
                continue
            before = remind_before.get(user)
            if before is None or before <= timedelta(0) or before > MAX_REMIND_BEFORE:
                continue
            remind_at = handoff.at - before
            if start < remind_at <= now:
                end = shift_end(schedule, role, user, handoff.at, overrides)
                reminder = DueMessage("reminder", schedule.id, role, user, handoff.at, end, handoff.from_user)
                due.append(replace(reminder, reminder_at=remind_at))
    due.sort(key=lambda m: (m.shift_start, ROLES.index(m.role), m.kind))
    cursor = now if checked_until is None else max(checked_until, now)
    return DuePlan(tuple(due), tuple(skipped), cursor)
