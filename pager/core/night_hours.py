"""Night in a person's own zone: 22:00 to 07:00 local wall-clock time, DST-correct (docs/analytics.md).

An instant is at night when its local time of day, in the person's zone, is at or after 22:00 or
before 07:00. Over a span, the night's share is measured piece by piece between the zone's offset
changes: between two changes local time runs at the pace of UTC, so the overlap with the local
22:00-07:00 windows is plain arithmetic. A spring-forward night is an hour shorter and a fall-back
night an hour longer, as the people living through them find.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from pager.core.localtime import require_aware

NIGHT_STARTS = time(22, 0)
NIGHT_ENDS = time(7, 0)
# How far apart offset changes are looked for; no zone changes its offset twice within this.
_PROBE = timedelta(hours=6)
_EXACT = timedelta(microseconds=1)


def is_night(at: datetime, zone: ZoneInfo) -> bool:
    """True when `at`, read on a wall clock in `zone`, is in [22:00, 24:00) or [00:00, 07:00)."""
    local = require_aware(at).astimezone(zone).time()
    return local >= NIGHT_STARTS or local < NIGHT_ENDS


def night_time(start: datetime, end: datetime, zone: ZoneInfo) -> timedelta:
    """How much of [start, end) is night in `zone` (zero when `end` <= `start`)."""
    start, end = require_aware(start), require_aware(end)
    total = timedelta(0)
    at = start
    while at < end:
        offset = _offset(at, zone)
        stop = _next_offset_change(at, end, zone, offset)
        total += _night_overlap(_wall(at, offset), _wall(stop, offset))
        at = stop
    return total


def _offset(at: datetime, zone: ZoneInfo) -> timedelta:
    offset = at.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always answers for an aware instant
    return offset


def _wall(at: datetime, offset: timedelta) -> datetime:
    """The naive local wall time of `at` under a fixed `offset`."""
    return (at + offset).replace(tzinfo=None)


def _next_offset_change(at: datetime, end: datetime, zone: ZoneInfo, offset: timedelta) -> datetime:
    """The first instant after `at` (and at most `end`) whose offset is not `offset`, else `end`."""
    low = at
    while low < end:
        high = min(low + _PROBE, end)
        if _offset(high, zone) != offset:
            while high - low > _EXACT:  # offset(low) is the old one, offset(high) the new one
                middle = low + (high - low) / 2
                if _offset(middle, zone) == offset:
                    low = middle
                else:
                    high = middle
            return high
        low = high
    return end


def _night_overlap(start: datetime, end: datetime) -> timedelta:
    """The overlap of the naive wall-time span [start, end) with every [D 22:00, D+1 07:00)."""
    total = timedelta(0)
    day = start.date() - timedelta(days=1)
    while day <= end.date():
        night_start = datetime.combine(day, NIGHT_STARTS)
        night_end = datetime.combine(day + timedelta(days=1), NIGHT_ENDS)
        overlap = min(end, night_end) - max(start, night_start)
        if overlap > timedelta(0):
            total += overlap
        day += timedelta(days=1)
    return total
