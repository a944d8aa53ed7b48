"""On-call shifts as an iCalendar feed (docs/calendar.md).

Every final shift becomes one VEVENT with explicit DTSTART and DTEND in UTC. Never DURATION and never
RRULE: widely used parsers disagree on both when a shift crosses a DST change (some add DURATION on the
wall clock, some give an RRULE occurrence that spans the change the wrong length). UTC instants need no
VTIMEZONE, which matters for clients without a zone database of their own (ical.js).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import Alarm, Calendar, Event, vDDDTypes, vDuration, vText

from pager.core.model import FinalShift, Role, Schedule

PRODID = "-//pager//On-call calendar//EN"
UID_DOMAIN = "pager"


@dataclass(frozen=True)
class CalendarShift:
    """One final shift as the feed shows it: `user` holds `role` of a schedule in `[start, end)` (UTC)."""

    schedule_id: str
    schedule_name: str
    role: Role
    user: str
    start: datetime
    end: datetime

    @classmethod
    def from_final_shift(cls, schedule: Schedule, shift: FinalShift) -> CalendarShift:
        """The feed entry for `shift`, a final shift of `schedule`."""
        return cls(
            schedule_id=schedule.id,
            schedule_name=schedule.name,
            role=shift.role,
            user=shift.user,
            start=shift.start,
            end=shift.end,
        )

    @property
    def summary(self) -> str:
        """`On call (primary): Checkout primary — alice`."""
        return f"On call ({self.role}): {self.schedule_name} — {self.user}"

    @property
    def uid(self) -> str:
        """Stable identity of this shift across renders, so subscribed clients update instead of duplicating.

        Keyed on the start, not the end: the end is what moves while a shift is still the same shift
        (the feed window's far edge clips it and later extends it, an override or a change further
        ahead trims or merges into it), whereas a different start means a different handoff.
        """
        key = "\x1f".join(
            (self.schedule_id, self.role, self.user, _utc(self.start).strftime("%Y%m%dT%H%M%SZ"))
        )
        return f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@{UID_DOMAIN}"


# icalendar's folder leaves a line alone while it stays below its 75-octet limit.
_UNFOLDED_OCTETS = 74


def calendar_shifts(schedule: Schedule, shifts: Iterable[FinalShift]) -> list[CalendarShift]:
    """Feed entries for final shifts of `schedule` (from pager.core.schedule.final_shifts)."""
    return [CalendarShift.from_final_shift(schedule, shift) for shift in shifts]


def render_calendar(
    shifts: Sequence[CalendarShift],
    *,
    name: str,
    alarm: timedelta | None = None,
    refresh: timedelta = timedelta(hours=1),
    generated_at: datetime,
) -> bytes:
    """Render `shifts` as a VCALENDAR (RFC 5545 bytes, CRLF line ends); same input, same bytes.

    `alarm`, when given, adds a display alarm that long before each shift starts. `refresh` is the
    polling hint (REFRESH-INTERVAL and X-PUBLISHED-TTL). `generated_at` is every event's DTSTAMP.
    """
    if refresh <= timedelta(0):
        raise ValueError(f"refresh must be positive, got {refresh}")
    if alarm is not None and alarm < timedelta(0):
        raise ValueError(f"alarm must not be negative (it is how long before the shift), got {alarm}")
    stamp = _utc(generated_at)

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.calendar_name = name  # NAME (RFC 7986) and X-WR-CALNAME (Apple, Google, Outlook)
    cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(refresh))

    seen: dict[str, CalendarShift] = {}
    for shift in sorted(shifts, key=_order):
        uid = shift.uid
        if uid in seen:
            # Two events with one UID would be collapsed by clients, silently hiding a shift.
            raise ValueError(f"two shifts share a UID: {seen[uid]} and {shift}")
        seen[uid] = shift
        cal.add_component(_event(shift, uid, stamp, alarm))
    return _serialize(cal)


def _serialize(cal: Calendar) -> bytes:
    """`cal.to_ical()`, byte for byte, without running the line folder on lines that need no fold.

    icalendar folds every content line character by character, which is most of a year-long
    feed's render time; a line of at most 74 octets comes out of its folder unchanged.
    """
    out = []
    for line in cal.content_lines():
        if not line:
            continue
        encoded = line.encode("utf-8")
        out.append(encoded if len(encoded) <= _UNFOLDED_OCTETS else line.to_ical())
    return b"\r\n".join(out) + b"\r\n"


def _event(shift: CalendarShift, uid: str, stamp: datetime, alarm: timedelta | None) -> Event:
    start, end = _utc(shift.start), _utc(shift.end)
    if end <= start:
        raise ValueError(f"shift ends before it starts: {shift}")
    # Values are typed here rather than by Component.add(), whose per-value type guessing is a
    # measurable share of a year-long feed's render time; the bytes are the same.
    event = Event()
    event["UID"] = vText(uid)
    event["DTSTAMP"] = vDDDTypes(stamp)
    event["DTSTART"] = vDDDTypes(start)
    event["DTEND"] = vDDDTypes(end)
    event["SUMMARY"] = vText(shift.summary)
    event["TRANSP"] = vText("TRANSPARENT")  # being on call is not being busy
    if alarm is not None:
        reminder = Alarm()
        reminder["ACTION"] = vText("DISPLAY")
        reminder["DESCRIPTION"] = vText(shift.summary)
        reminder["TRIGGER"] = vDuration(-alarm)
        event.add_component(reminder)
    return event


def _order(shift: CalendarShift) -> tuple[datetime, datetime, str, str, str]:
    return (_utc(shift.start), _utc(shift.end), shift.schedule_id, shift.role, shift.user)


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant.isoformat()} has no UTC offset; the feed needs UTC instants")
    return instant.astimezone(UTC)
