"""Checks and derivations for overrides: who holds a role in a window, and what a swap stores.

Pure: the schedule, the stored overrides and the instants are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from pager.core.localtime import format_instant, require_aware
from pager.core.model import ROLES, FinalShift, Override, Role, Schedule
from pager.core.schedule import final_shifts

# A shift containing an instant is searched for this far either side, widening only while it is cut.
_SHIFT_HORIZONS = (timedelta(days=2), timedelta(days=35), timedelta(days=400))


# A deactivated person is removed from a schedule over all time: from before any rotation starts to
# after any lookup can reach (the API accepts instants up to year 9000).
ALL_TIME = (datetime(1900, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


class OverrideError(ValueError):
    """An override that would not do what it says (nobody to remove or replace, a bad swap)."""


def holds_role_in(
    schedule: Schedule,
    role: Role,
    user: str,
    start: datetime,
    end: datetime,
    overrides: Sequence[Override] = (),
) -> bool:
    """Whether `user` holds `role` at some instant of [start, end), stored overrides applied."""
    return any(shift.user == user for shift in final_shifts(schedule, role, start, end, overrides))


def shift_containing(
    schedule: Schedule, role: Role, at: datetime, overrides: Sequence[Override] = ()
) -> FinalShift | None:
    """The final shift of `role` that contains `at` (whole, unless longer than ~400 days either side)."""
    at = require_aware(at)
    found: FinalShift | None = None
    for horizon in _SHIFT_HORIZONS:
        window_start, window_end = at - horizon, at + horizon
        found = next(
            (
                shift
                for shift in final_shifts(schedule, role, window_start, window_end, overrides)
                if shift.start <= at < shift.end
            ),
            None,
        )
        if found is None or (window_start < found.start and found.end < window_end):
            return found
    return found


def swap_overrides(
    schedule: Schedule,
    role: Role,
    user: str,
    user_at: datetime,
    other: str,
    other_at: datetime,
    overrides: Sequence[Override] = (),
) -> tuple[Override, Override]:
    """The two `replace` overrides of a swap: `user`'s shift containing `user_at` goes to `other`, and
    `other`'s shift containing `other_at` goes to `user`.

    Raises OverrideError when the two are one person or an instant is not in the named person's shift.
    """
    if user == other:
        raise OverrideError(f"cannot swap {user!r} with themselves")
    first = _own_shift(schedule, role, user, user_at, overrides)
    second = _own_shift(schedule, role, other, other_at, overrides)
    return (
        Override(schedule.id, role, first.start, first.end, other, kind="replace", instead_of=user),
        Override(schedule.id, role, second.start, second.end, user, kind="replace", instead_of=other),
    )


def _own_shift(
    schedule: Schedule, role: Role, user: str, at: datetime, overrides: Sequence[Override]
) -> FinalShift:
    shift = shift_containing(schedule, role, at, overrides)
    if shift is None or shift.user != user:
        holder = "nobody" if shift is None else repr(shift.user)
        raise OverrideError(
            f"{user!r} is not {role} of {schedule.id!r} at {format_instant(require_aware(at))} ({holder} is)"
        )
    return shift


def deactivation_removals(schedule_id: str, handles: Iterable[str]) -> list[Override]:
    """`remove` overrides over all time, both roles, for each deactivated person in `handles`.

    Appended after the stored overrides (which apply in order), they take the person out wherever a
    layer, an `add` or a `replace` would put them: the role falls to whoever the layers give without
    them, exactly as a stored removal does, so every reader of overrides agrees on it.
    """
    start, end = ALL_TIME
    return [
        Override(schedule_id, role, start, end, handle, kind="remove")
        for handle in sorted(set(handles))
        for role in ROLES
    ]
