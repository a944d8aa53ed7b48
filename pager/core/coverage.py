"""Coverage and fairness of a schedule over a window: gaps per role, on-call and night hours per person.

Night hours are the parts of a shift inside local 22:00–07:00 in the schedule's zone, each night
built with `localize`, so a DST night is an hour shorter or longer, as the person lived it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from pager.core.localtime import localize, require_aware, to_wall, zone
from pager.core.model import ROLES, FinalShift, Override, Role, RotationLayer, Schedule
from pager.core.schedule import final_shifts

NIGHT_START = time(22, 0)
NIGHT_END = time(7, 0)


@dataclass(frozen=True)
class Gap:
    """A span `[start, end)` in which nobody holds `role`."""

    role: Role
    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class PersonLoad:
    """How long `user` held a role in the window, and how much of that was at night."""

    user: str
    on_call: timedelta
    night: timedelta


@dataclass(frozen=True)
class RoleCoverage:
    """One role over the window: its gaps, and everyone's load (most loaded first)."""

    role: Role
    gaps: tuple[Gap, ...]
    people: tuple[PersonLoad, ...]

    @property
    def covered(self) -> timedelta:
        return sum((p.on_call for p in self.people), timedelta(0))

    @property
    def spread(self) -> timedelta:
        """On-call time of the most loaded person minus that of the least loaded."""
        return _spread(p.on_call for p in self.people)

    @property
    def night_spread(self) -> timedelta:
        return _spread(p.night for p in self.people)


@dataclass(frozen=True)
class Coverage:
    """Coverage of `schedule` over `[start, end)`, one entry per role."""

    schedule: str
    start: datetime
    end: datetime
    roles: Mapping[Role, RoleCoverage]


def measure_coverage(
    schedule: Schedule, start: datetime, end: datetime, overrides: Sequence[Override] = ()
) -> Coverage:
    """Gaps and per-person load for both roles of `schedule` over `[start, end)`."""
    start, end = require_aware(start), require_aware(end)
    tz = zone(schedule.time_zone)
    nights = night_windows(tz, start, end)
    roles: dict[Role, RoleCoverage] = {}
    for role in ROLES:
        shifts = final_shifts(schedule, role, start, end, overrides)
        roster = [
            m
            for layer in schedule.layers
            if isinstance(layer, RotationLayer) and layer.role == role
            for m in layer.members
        ]
        roles[role] = RoleCoverage(
            role=role,
            gaps=tuple(find_gaps(role, shifts, start, end)),
            people=tuple(person_loads(shifts, nights, roster)),
        )
    return Coverage(schedule=schedule.id, start=start, end=end, roles=roles)


def find_gaps(role: Role, shifts: Iterable[FinalShift], start: datetime, end: datetime) -> list[Gap]:
    """Every span of `[start, end)` that no shift covers."""
    gaps: list[Gap] = []
    cursor = start
    for shift in sorted(shifts, key=lambda s: s.start):
        if shift.start > cursor:
            gaps.append(Gap(role, cursor, min(shift.start, end)))
        cursor = max(cursor, shift.end)
        if cursor >= end:
            break
    if cursor < end:
        gaps.append(Gap(role, cursor, end))
    return [g for g in gaps if g.end > g.start]


def night_windows(tz: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The local 22:00–07:00 nights in `tz` that touch `[start, end)`, as UTC instants, in order."""
    first = to_wall(start, tz).date() - timedelta(days=1)
    last = to_wall(end, tz).date()
    windows: list[tuple[datetime, datetime]] = []
    day = first
    while day <= last:
        night_start = localize(datetime.combine(day, NIGHT_START), tz)
        night_end = localize(datetime.combine(day + timedelta(days=1), NIGHT_END), tz)
        if night_end > start and night_start < end:
            windows.append((night_start, night_end))
        day += timedelta(days=1)
    return windows


def person_loads(
    shifts: Iterable[FinalShift], nights: Sequence[tuple[datetime, datetime]], roster: Iterable[str] = ()
) -> list[PersonLoad]:
    """Total and night time per user; roster members without a shift count with zero. Most loaded first."""
    on_call: dict[str, timedelta] = {user: timedelta(0) for user in roster}
    night: dict[str, timedelta] = dict.fromkeys(on_call, timedelta(0))
    for shift in shifts:
        on_call[shift.user] = on_call.get(shift.user, timedelta(0)) + (shift.end - shift.start)
        night[shift.user] = night.get(shift.user, timedelta(0)) + _overlap(shift, nights)
    loads = [PersonLoad(user, on_call[user], night[user]) for user in on_call]
    return sorted(loads, key=lambda p: (-p.on_call, -p.night, p.user))


def _overlap(shift: FinalShift, nights: Sequence[tuple[datetime, datetime]]) -> timedelta:
    total = timedelta(0)
    for night_start, night_end in nights:
        if night_start >= shift.end:
            break
        low, high = max(night_start, shift.start), min(night_end, shift.end)
        if high > low:
            total += high - low
    return total


def _spread(values: Iterable[timedelta]) -> timedelta:
    listed = list(values)
    return max(listed) - min(listed) if listed else timedelta(0)
