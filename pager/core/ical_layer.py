"""iCal layers: each VEVENT occurrence puts the user named by its SUMMARY on call.

See docs/schedules.md, "Keys" and "Who is on call: the rules".

Parsing is icalendar's; recurrence expansion (RRULE, RDATE, EXDATE, RECURRENCE-ID) is
recurring_ical_events'. Occurrences are expanded one calendar year at a time and cached, so a point
lookup costs a scan of that year's few events, whatever the calendar's age.

Both libraries (with click, which recurring_ical_events' x_wr_timezone imports) load on the first
iCal layer parsed: a process whose schedules have none never imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from pager.core.localtime import localize, require_aware

# An occurrence longer than this is not an on-call shift anyone keeps; it bounds the look-back.
_LONGEST_EVENT = timedelta(days=366)


class IcalLayerError(ValueError):
    """An .ics text that cannot serve as a layer; `line` is 1-based within the .ics text."""

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True, order=True)
class Occurrence:
    """One expanded event: `user` is on call in [start, end)."""

    start: datetime
    end: datetime
    user: str


def _line_of(text: str, needle: str) -> int:
    index = text.find(needle)
    return 1 if index < 0 else text.count("\n", 0, index) + 1


def _parse_calendar(text: str) -> Any:
    import icalendar

    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise IcalLayerError(f"invalid .ics: {exc}") from None
    if calendar.name != "VCALENDAR":
        raise IcalLayerError("invalid .ics: the file is not a VCALENDAR")
    for event in calendar.walk("VEVENT"):
        uid = str(event.get("UID", ""))
        line = _line_of(text, f"UID:{uid}") if uid else _line_of(text, "BEGIN:VEVENT")
        if not str(event.get("SUMMARY", "")).strip():
            raise IcalLayerError(f"event {uid or '(no UID)'} has no SUMMARY naming the user on call", line)
        if event.get("DTSTART") is None:
            raise IcalLayerError(f"event {uid or '(no UID)'} has no DTSTART", line)
    return calendar


def parse_ics(text: str) -> None:
    """Validate `text` as an iCal layer (parse, and expand each event's first year); raises IcalLayerError."""
    index = IcalIndex(text, ZoneInfo("UTC"))
    for year in index.first_years():
        index.occurrences_in_year(year)


def _instant(value: date | datetime, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # floating time: the schedule's zone
            return localize(value, tz)
        return value.astimezone(UTC)
    return localize(datetime.combine(value, time(0)), tz)  # all-day: whole local days


class IcalIndex:
    """Expanded occurrences of one .ics layer, read in the schedule's zone."""

    def __init__(self, text: str, tz: ZoneInfo) -> None:
        self.tz = tz
        self._calendar = _parse_calendar(text)
        self._years: dict[int, tuple[Occurrence, ...]] = {}

    def first_years(self) -> set[int]:
        """The UTC years in which the calendar's events start (before recurrence)."""
        return {_instant(event.start, self.tz).year for event in self._calendar.walk("VEVENT")}

    def occurrences_in_year(self, year: int) -> tuple[Occurrence, ...]:
        """Occurrences starting in UTC calendar year `year`, sorted by start."""
        cached = self._years.get(year)
        if cached is not None:
            return cached
        begin = datetime(year, 1, 1, tzinfo=UTC)
        end = datetime(year + 1, 1, 1, tzinfo=UTC)
        found: set[Occurrence] = set()
        import recurring_ical_events

        try:
            expanded = recurring_ical_events.of(self._calendar).between(
                (begin - timedelta(days=2)).date(), (end + timedelta(days=2)).date()
            )
            for event in expanded:
                if str(event.get("STATUS", "")).upper() == "CANCELLED":
                    continue
                start = _instant(event.start, self.tz)
                finish = _instant(event.end, self.tz)
                if begin <= start < end and finish > start:
                    found.add(Occurrence(start, finish, str(event["SUMMARY"]).strip()))
        except IcalLayerError:
            raise
        except Exception as exc:  # the expander raises many types for broken recurrence data
            raise IcalLayerError(f"cannot expand the calendar's events: {exc}") from None
        result = tuple(sorted(found))
        self._years[year] = result
        return result

    def _candidates(self, a: datetime, b: datetime) -> list[Occurrence]:
        """Occurrences that may overlap [a, b)."""
        out: list[Occurrence] = []
        for year in range((a - _LONGEST_EVENT).year, b.year + 1):
            out.extend(o for o in self.occurrences_in_year(year) if o.start < b and o.end > a)
        return out

    def holder_at(self, t: datetime) -> str | None:
        """Who this layer puts on call at t: of the occurrences covering t, the latest-starting."""
        t = require_aware(t)
        covering = self._candidates(t, t + timedelta(microseconds=1))
        if not covering:
            return None
        return max(covering, key=lambda o: (o.start, o.user)).user

    def boundaries_between(self, a: datetime, b: datetime) -> list[datetime]:
        """Every occurrence start or end in [a, b)."""
        points = set()
        for occurrence in self._candidates(a, b):
            for point in (occurrence.start, occurrence.end):
                if a <= point < b:
                    points.add(point)
        return sorted(points)


@lru_cache(maxsize=64)
def ical_index(text: str, tz: ZoneInfo) -> IcalIndex:
    """A cached index for layer text `text` in zone `tz`."""
    return IcalIndex(text, tz)
