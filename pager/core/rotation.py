"""Rotation math: when handoff k happens, and which k holds at an instant.

The rules are in docs/schedules.md, "Time rules" and "Who is on call: the rules".

Handoff k is `localize(wall(k))`, where `wall(k)` is naive local time computed from `start` each time.
Because a spring-forward gap maps skipped wall times past the gap, handoff instants are not always
increasing in k; the holder at t is the *highest* k whose instant is <= t, so a shift the clock change
makes zero-length or negative simply vanishes.

Lookups never walk from `start`: the cadence answers "how many handoffs up to wall time w" in O(1), and
only the handoffs whose wall time lies within the zone's UTC-offset span of t's wall time need checking.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rrulestr

from pager.core.durations import ShiftLength
from pager.core.localtime import localize, offset_span, require_aware, to_wall

_HOUR = 3600
_DAY = 86400
_WEEK = 7 * _DAY
_GREGORIAN_CYCLE_DAYS = 146_097  # 400 years; a multiple of 7, so weekdays repeat too
_GREGORIAN_CYCLE_MONTHS = 4_800
_MAX_OCCURRENCES_PER_PERIOD = 200_000
_FREQ_SECONDS = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": _HOUR, "DAILY": _DAY, "WEEKLY": _WEEK}
_CALENDAR_PARTS = ("BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYEASTER")


class RotationError(ValueError):
    """A rotation that cannot be computed (bad or unsupported handoff rule)."""


class Cadence(Protocol):
    """Naive wall times of handoffs: `wall(0) == start`, strictly increasing in k."""

    def wall(self, k: int) -> datetime:
        """Wall time of handoff k (k >= 0)."""
        ...

    def last_at_or_before(self, wall: datetime) -> int:
        """The highest k with `wall(k) <= wall`, or -1 when `wall` is before `start`."""
        ...


@dataclass(frozen=True)
class FixedCadence:
    """Every `step` of naive local time (`Nh`, `Nd`, `Nw`)."""

    start: datetime
    step: timedelta

    def wall(self, k: int) -> datetime:
        return self.start + k * self.step

    def last_at_or_before(self, wall: datetime) -> int:
        if wall < self.start:
            return -1
        return (wall - self.start) // self.step


@dataclass(frozen=True)
class MonthCadence:
    """Every `months` calendar months from `start`, clamped to the month's last day."""

    start: datetime
    months: int

    def wall(self, k: int) -> datetime:
        return self.start + relativedelta(months=k * self.months)

    def last_at_or_before(self, wall: datetime) -> int:
        if wall < self.start:
            return -1
        elapsed = (wall.year - self.start.year) * 12 + (wall.month - self.start.month)
        k = elapsed // self.months
        # wall(k) is in wall's month at the latest, so one step back is always enough.
        return k - 1 if self.wall(k) > wall else k


@dataclass(frozen=True)
class RRuleCadence:
    """Handoffs at each occurrence of an open-ended RRULE strictly after `start` (DTSTART).

    Every open-ended rule repeats with a period P (its interval combined with a week, or with the
    400-year Gregorian cycle when it filters by month, month day, year day or week number). One
    period of occurrences is computed once; occurrence j is then `first_period[j % c] + (j // c) * P`.
    """

    start: datetime
    period_seconds: int  # > 0 for SECONDLY..WEEKLY rules
    period_months: int  # > 0 for MONTHLY/YEARLY rules
    first_period: tuple[datetime, ...]  # occurrences in (start, start + P]

    def _shift(self, wall: datetime, periods: int) -> datetime:
        if self.period_months:
            return wall + relativedelta(months=periods * self.period_months)
        return wall + timedelta(seconds=periods * self.period_seconds)

    def wall(self, k: int) -> datetime:
        if k == 0:
            return self.start
        q, r = divmod(k - 1, len(self.first_period))
        return self._shift(self.first_period[r], q)

    def last_at_or_before(self, wall: datetime) -> int:
        if wall < self.start:
            return -1
        if self.period_months:
            elapsed = (wall.year - self.start.year) * 12 + (wall.month - self.start.month)
            q = elapsed // self.period_months
            if self._shift(self.start, q) > wall:
                q -= 1
        else:
            q = (wall - self.start) // timedelta(seconds=self.period_seconds)
        within = self._shift(wall, -q)
        return q * len(self.first_period) + bisect.bisect_right(self.first_period, within)


def _rule_parts(text: str) -> dict[str, str]:
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    parts: dict[str, str] = {}
    for piece in body.split(";"):
        if not piece.strip():
            continue
        key, sep, value = piece.partition("=")
        if not sep:
            raise RotationError(f"bad handoff rule {text!r}: {piece!r} is not KEY=VALUE")
        parts[key.strip().upper()] = value.strip()
    return parts


@lru_cache(maxsize=256)
def rrule_cadence(text: str, start: datetime) -> RRuleCadence:
    """Build the periodic cadence of handoff rule `text` with DTSTART `start` (naive local)."""
    parts = _rule_parts(text)
    for forbidden in ("COUNT", "UNTIL"):
        if forbidden in parts:
            raise RotationError(
                f"bad handoff rule {text!r}: {forbidden} is not allowed, a rotation must keep turning"
            )
    if "DTSTART" in parts:
        raise RotationError(f"bad handoff rule {text!r}: DTSTART comes from the layer's start")
    freq = parts.get("FREQ")
    if freq is None:
        raise RotationError(f"bad handoff rule {text!r}: FREQ is required")
    try:
        rule = rrulestr(text.strip(), dtstart=start)
        interval = int(parts.get("INTERVAL", "1"))
    except (ValueError, TypeError) as exc:
        raise RotationError(f"bad handoff rule {text!r}: {exc}") from None
    if not isinstance(rule, rrule):
        raise RotationError(f"bad handoff rule {text!r}: expected a single RRULE")
    if interval < 1:
        raise RotationError(f"bad handoff rule {text!r}: INTERVAL must be at least 1")
    calendar_filtered = any(p in parts for p in _CALENDAR_PARTS)
    period_seconds = period_months = 0
    if freq in _FREQ_SECONDS:
        base = interval * _FREQ_SECONDS[freq]
        cycle = _GREGORIAN_CYCLE_DAYS * _DAY if calendar_filtered else _WEEK
        period_seconds = math.lcm(base, cycle)
        end = start + timedelta(seconds=period_seconds)
    elif freq in ("MONTHLY", "YEARLY"):
        period_months = math.lcm(interval * (12 if freq == "YEARLY" else 1), _GREGORIAN_CYCLE_MONTHS)
        end = start + relativedelta(months=period_months)
    else:
        raise RotationError(f"bad handoff rule {text!r}: unknown FREQ {freq!r}")
    occurrences: list[datetime] = []
    for occurrence in rule.replace(until=end):
        if occurrence <= start:
            continue
        occurrences.append(occurrence)
        if len(occurrences) > _MAX_OCCURRENCES_PER_PERIOD:
            raise RotationError(f"bad handoff rule {text!r}: too many handoffs per repeat cycle to index")
    if not occurrences:
        raise RotationError(f"bad handoff rule {text!r}: it never hands off")
    return RRuleCadence(start, period_seconds, period_months, tuple(occurrences))


def parse_handoff_rule(text: str, start: datetime) -> None:
    """Validate handoff rule `text` for a layer starting at `start`; raises RotationError."""
    rrule_cadence(text, start)


def make_cadence(start: datetime, shift: ShiftLength | None, rule: str | None) -> Cadence:
    """The cadence for a layer given either a shift length or a handoff RRULE."""
    if (shift is None) == (rule is None):
        raise RotationError("a rotation needs exactly one of shift and handoff")
    if rule is not None:
        return rrule_cadence(rule, start)
    assert shift is not None
    if shift.unit == "mo":
        return MonthCadence(start, shift.amount)
    unit_seconds = {"h": _HOUR, "d": _DAY, "w": _WEEK}[shift.unit]
    return FixedCadence(start, timedelta(seconds=shift.amount * unit_seconds))


_MONTHS_CACHED = 48
_MAX_INDEXED_PER_MONTH = 2_000


@dataclass(frozen=True)
class _MonthIndex:
    """Holder index at the month's first instant, then each handoff and the highest k so far."""

    at_start: int
    instants: list[datetime]
    best: list[int]


class Rotation:
    """Handoff instants of one rotation in one zone."""

    def __init__(
        self, start: datetime, tz: ZoneInfo, shift: ShiftLength | None = None, rrule: str | None = None
    ) -> None:
        if start.tzinfo is not None:
            raise RotationError("a rotation's start is naive local wall time")
        self.start = start
        self.tz = tz
        self.cadence = make_cadence(start, shift, rrule)
        # Any two UTC offsets of the zone differ by at most this much (plus a safety hour), which
        # bounds how far a handoff's wall time can be from t's wall time and still straddle t.
        self._span = offset_span(tz) + timedelta(hours=1)
        self._months: dict[tuple[int, int], _MonthIndex] = {}

    def handoff(self, k: int) -> datetime:
        """UTC instant of handoff k (k = 0 is `start`)."""
        return localize(self.cadence.wall(k), self.tz)

    def index_at(self, t: datetime) -> int | None:
        """The highest k whose handoff instant is <= t, or None before the first handoff."""
        if t.tzinfo is not UTC:
            t = require_aware(t)
        month = self._months.get((t.year, t.month))
        if month is None:
            month = self._month_index(t.year, t.month)
            if month is None:
                return self.index_at_uncached(t)
        position = bisect.bisect_right(month.instants, t)
        k = month.best[position - 1] if position else month.at_start
        return None if k < 0 else k

    def _month_index(self, year: int, month: int) -> _MonthIndex | None:
        """Handoffs of one UTC month, so repeated lookups there are a bisect (bounded cache).

        None when the month holds too many handoffs for an index to pay off.
        """
        first = datetime(year, month, 1, tzinfo=UTC)
        after = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        naive_first, naive_after = first.replace(tzinfo=None), after.replace(tzinfo=None)
        density = self.cadence.last_at_or_before(naive_after) - self.cadence.last_at_or_before(naive_first)
        if density > _MAX_INDEXED_PER_MONTH:
            return None
        at_start = self.index_at_uncached(first)
        best: list[int] = []
        instants: list[datetime] = []
        running = -1 if at_start is None else at_start
        for instant, k in self.handoffs_between(first, after):
            running = max(running, k)
            instants.append(instant)
            best.append(running)
        index = _MonthIndex(at_start=-1 if at_start is None else at_start, instants=instants, best=best)
        if len(self._months) >= _MONTHS_CACHED:
            self._months.pop(next(iter(self._months)))
        self._months[(year, month)] = index
        return index

    def index_at_uncached(self, t: datetime) -> int | None:
        """`index_at` computed from the cadence directly (no month cache)."""
        t = require_aware(t)
        wall = to_wall(t, self.tz)
        surely_before = self.cadence.last_at_or_before(wall - self._span)
        maybe = self.cadence.last_at_or_before(wall + self._span)
        for k in range(maybe, surely_before, -1):
            if self.handoff(k) <= t:
                return k
        return surely_before if surely_before >= 0 else None

    def handoffs_between(self, a: datetime, b: datetime) -> list[tuple[datetime, int]]:
        """(instant, k) of every effective handoff with a <= instant < b, in order.

        A handoff that a clock change makes vanish (a later k lands at or before it) is left out:
        its member never holds the rotation.
        """
        a, b = require_aware(a), require_aware(b)
        if b <= a:
            return []
        first = max(0, self.cadence.last_at_or_before(to_wall(a, self.tz) - self._span))
        last = self.cadence.last_at_or_before(to_wall(b, self.tz) + self._span)
        found = []
        earliest_later: datetime | None = None  # the earliest instant of any higher k seen so far
        for k in range(last, first - 1, -1):
            instant = self.handoff(k)
            if earliest_later is None or instant < earliest_later:
                if a <= instant < b:
                    found.append((instant, k))
                earliest_later = instant
        found.reverse()
        return found
