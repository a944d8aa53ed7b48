"""Restriction windows: the weekly local-time windows in which a layer has someone.

See docs/schedules.md, "Keys" and "Who is on call: the rules".

A window {days, from, to} starts on each listed weekday at `from` and ends at `to` that day, or the
next day when `to <= from`. Its instants are `[localize(start), localize(end))`, the same RFC 5545
reading handoffs get, so a 22:00–06:00 night is 9 hours on a fall-back night and 7 on spring-forward.
"""

from __future__ import annotations

import bisect
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pager.core.localtime import localize, offset_span, require_aware, to_wall
from pager.core.model import Restriction

_MONTHS_CACHED = 48


class RestrictionWindows:
    """The union of a layer's restriction windows in one zone."""

    def __init__(self, restrictions: tuple[Restriction, ...], tz: ZoneInfo) -> None:
        self.restrictions = restrictions
        self.tz = tz
        # How many local days before/after t's local date a window touching t can start.
        span = offset_span(tz) + timedelta(hours=1)
        self._reach = timedelta(days=span.days + 2)
        self._months: dict[tuple[int, int], tuple[list[datetime], list[datetime]]] = {}

    def _windows_starting_on(self, day: date) -> list[tuple[datetime, datetime]]:
        windows = []
        for restriction in self.restrictions:
            if day.weekday() not in restriction.days:
                continue
            begin = datetime.combine(day, restriction.start)
            end_day = day if restriction.end > restriction.start else day + timedelta(days=1)
            end = datetime.combine(end_day, restriction.end)
            windows.append((localize(begin, self.tz), localize(end, self.tz)))
        return windows

    def _days(self, a: datetime, b: datetime) -> list[date]:
        first = (to_wall(a, self.tz) - self._reach).date()
        last = (to_wall(b, self.tz) + self._reach).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def active(self, t: datetime) -> bool:
        """Is t inside any window?"""
        if t.tzinfo is not UTC:
            t = require_aware(t)
        starts, ends = self._months.get((t.year, t.month)) or self._month_windows(t.year, t.month)
        position = bisect.bisect_right(starts, t)
        return position > 0 and t < ends[position - 1]

    def window_at(self, t: datetime) -> tuple[datetime, datetime] | None:
        """The window (windows that overlap or touch merged) holding t, as [start, end); None if none."""
        if t.tzinfo is not UTC:
            t = require_aware(t)
        starts, ends = self._months.get((t.year, t.month)) or self._month_windows(t.year, t.month)
        position = bisect.bisect_right(starts, t)
        if position > 0 and t < ends[position - 1]:
            return starts[position - 1], ends[position - 1]
        return None

    def _month_windows(self, year: int, month: int) -> tuple[list[datetime], list[datetime]]:
        """Disjoint, sorted windows overlapping one UTC month (bounded cache)."""
        first = datetime(year, month, 1, tzinfo=UTC)
        after = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        windows = sorted(
            window
            for day in self._days(first, after)
            for window in self._windows_starting_on(day)
            if window[0] < after and window[1] > first
        )
        starts: list[datetime] = []
        ends: list[datetime] = []
        for begin, end in windows:
            if end <= begin:
                continue  # a window a clock change made empty
            if ends and begin <= ends[-1]:
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(begin)
                ends.append(end)
        if len(self._months) >= _MONTHS_CACHED:
            self._months.pop(next(iter(self._months)))
        self._months[(year, month)] = (starts, ends)
        return starts, ends

    def boundaries_between(self, a: datetime, b: datetime) -> list[datetime]:
        """Every window start or end in [a, b)."""
        a, b = require_aware(a), require_aware(b)
        points = set()
        for day in self._days(a, b):
            for begin, end in self._windows_starting_on(day):
                for point in (begin, end):
                    if a <= point < b:
                        points.add(point)
        return sorted(points)
