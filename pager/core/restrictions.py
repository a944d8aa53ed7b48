"""Restriction windows: the weekly local-time windows in which a layer has someone (DESIGN §3).

A window {days, from, to} starts on each listed weekday at `from` and ends at `to` that day, or the
next day when `to <= from`. Its instants are `[localize(start), localize(end))`, the same RFC 5545
reading handoffs get, so a 22:00–06:00 night is 9 hours on a fall-back night and 7 on spring-forward.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pager.core.localtime import localize, offset_span, require_aware, to_wall
from pager.core.model import Restriction


class RestrictionWindows:
    """The union of a layer's restriction windows in one zone."""

    def __init__(self, restrictions: tuple[Restriction, ...], tz: ZoneInfo) -> None:
        self.restrictions = restrictions
        self.tz = tz
        # How many local days before/after t's local date a window touching t can start.
        span = offset_span(tz) + timedelta(hours=1)
        self._reach = timedelta(days=span.days + 2)

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
        t = require_aware(t)
        for day in self._days(t, t):
            for begin, end in self._windows_starting_on(day):
                if begin <= t < end:
                    return True
        return False

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
