"""Calendar feed: final shifts rendered to .ics and read back by icalendar and recurring_ical_events."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from icalendar import Calendar

from pager.adapters.ical_feed import CalendarShift, calendar_shifts, render_calendar
from pager.core.durations import ShiftLength
from pager.core.model import ROLES, Restriction, RotationLayer, Schedule
from pager.core.schedule import final_shifts

CHICAGO = ZoneInfo("America/Chicago")
WEEKDAYS = frozenset(range(5))
WEEKLY = ("alice", "bob", "carol")
ROTATION_START = datetime(2026, 1, 5, 9, 0)  # a Monday, local wall time

SCHEDULE = Schedule(
    id="checkout",
    name="Checkout primary",
    time_zone="America/Chicago",
    layers=(
        RotationLayer(name="weekly", members=WEEKLY, start=ROTATION_START, shift=ShiftLength(1, "w")),
        RotationLayer(
            name="business-hours",
            members=("dana", "erin"),
            start=ROTATION_START,
            shift=ShiftLength(1, "d"),
            restrictions=(Restriction(WEEKDAYS, time(9), time(17)),),
        ),
        RotationLayer(
            name="night-desk",
            role="secondary",
            members=("frank", "gina"),
            start=datetime(2026, 1, 5, 22, 0),
            shift=ShiftLength(1, "d"),
            restrictions=(Restriction(WEEKDAYS, time(22), time(6)),),
        ),
    ),
)
# Covers spring forward (2026-03-08) and fall back (2026-11-01) in America/Chicago.
WINDOW = (datetime(2026, 2, 23, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC))
GENERATED_AT = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
SUMMARY_RE = re.compile(r"^On call \((primary|secondary)\): Checkout primary — (\S+)$")

Span = tuple[str, str, datetime, datetime]  # (user, role, start, end)


@pytest.fixture(scope="module")
def shifts() -> list[CalendarShift]:
    found = []
    for role in ROLES:
        found += calendar_shifts(SCHEDULE, final_shifts(SCHEDULE, role, *WINDOW))
    return found


@pytest.fixture(scope="module")
def feed(shifts: list[CalendarShift]) -> bytes:
    return render_calendar(shifts, name="Checkout on call", generated_at=GENERATED_AT)


def spans_of(shifts: list[CalendarShift]) -> set[Span]:
    return {(s.user, s.role, s.start, s.end) for s in shifts}


def span_of_event(event: Calendar) -> Span:
    match = SUMMARY_RE.match(str(event["SUMMARY"]))
    assert match, event["SUMMARY"]
    start, end = event["DTSTART"].dt, event["DTEND"].dt
    assert start.utcoffset() == timedelta(0) and end.utcoffset() == timedelta(0)
    return (match.group(2), match.group(1), start.astimezone(UTC), end.astimezone(UTC))


def content_lines(data: bytes) -> list[str]:
    return data.decode().replace("\r\n ", "").split("\r\n")


def local(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=CHICAGO).astimezone(UTC)


def test_the_schedule_yields_shifts_for_both_roles(shifts: list[CalendarShift]) -> None:
    roles = {s.role for s in shifts}
    users = {s.user for s in shifts}
    assert roles == {"primary", "secondary"}
    assert {"alice", "bob", "carol", "dana", "erin", "frank", "gina"} <= users


def test_icalendar_reads_back_exactly_the_final_shifts(shifts: list[CalendarShift], feed: bytes) -> None:
    events = Calendar.from_ical(feed).walk("VEVENT")
    spans = [span_of_event(e) for e in events]
    assert len(spans) == len(shifts)
    assert set(spans) == spans_of(shifts)


def test_recurring_ical_events_reads_back_exactly_the_final_shifts(
    shifts: list[CalendarShift], feed: bytes
) -> None:
    events = recurring_ical_events.of(Calendar.from_ical(feed)).between(*WINDOW)
    spans = [span_of_event(e) for e in events]
    assert len(spans) == len(shifts)
    assert set(spans) == spans_of(shifts)


def test_events_have_explicit_utc_start_and_end_and_no_duration_or_recurrence(feed: bytes) -> None:
    lines = content_lines(feed)
    names = {line.split(":", 1)[0].split(";", 1)[0] for line in lines}
    assert names.isdisjoint({"DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "VTIMEZONE"})
    starts = [line for line in lines if line.startswith("DTSTART")]
    ends = [line for line in lines if line.startswith("DTEND")]
    assert len(starts) == len(ends) == feed.count(b"BEGIN:VEVENT") > 0
    assert all(re.fullmatch(r"DT(START|END):\d{8}T\d{6}Z", line) for line in starts + ends)


@pytest.mark.parametrize(
    ("friday", "monday", "hours"),
    [
        ((2026, 3, 6), (2026, 3, 9), 63),  # spring forward Sunday 2026-03-08: one hour shorter
        ((2026, 10, 30), (2026, 11, 2), 65),  # fall back Sunday 2026-11-01: one hour longer
    ],
)
def test_weekend_shift_across_a_dst_change_comes_back_with_its_true_length(
    shifts: list[CalendarShift],
    feed: bytes,
    friday: tuple[int, int, int],
    monday: tuple[int, int, int],
    hours: int,
) -> None:
    # Business hours end Friday 17:00; the weekly person holds primary until Monday 09:00 local.
    start, end = local(*friday, 17), local(*monday, 9)
    assert end - start == timedelta(hours=hours)
    week = (datetime(*monday) - ROTATION_START.replace(hour=0)).days // 7 - 1
    expected = (WEEKLY[week % len(WEEKLY)], "primary", start, end)
    assert expected in spans_of(shifts)

    for events in (
        Calendar.from_ical(feed).walk("VEVENT"),
        recurring_ical_events.of(Calendar.from_ical(feed)).between(*WINDOW),
    ):
        matching = [span for span in map(span_of_event, events) if span[1] == "primary" and span[2] == start]
        assert matching == [expected]
        assert matching[0][3] - matching[0][2] == timedelta(hours=hours)


def test_calendar_properties_and_refresh_hints(feed: bytes) -> None:
    lines = content_lines(feed)
    assert lines[0] == "BEGIN:VCALENDAR"
    for line in (
        "VERSION:2.0",
        "PRODID:-//pager//On-call calendar//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Checkout on call",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ):
        assert line in lines
    cal = Calendar.from_ical(feed)
    assert cal.refresh_interval == timedelta(hours=1)
    for event in cal.walk("VEVENT"):
        assert event["DTSTAMP"].dt == GENERATED_AT
        assert str(event["TRANSP"]) == "TRANSPARENT"


def test_refresh_interval_is_configurable(shifts: list[CalendarShift]) -> None:
    data = render_calendar(shifts[:3], name="x", refresh=timedelta(minutes=30), generated_at=GENERATED_AT)
    lines = content_lines(data)
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT30M" in lines
    assert "X-PUBLISHED-TTL:PT30M" in lines


def test_uids_are_unique_per_shift_and_stable_across_renders(
    shifts: list[CalendarShift], feed: bytes
) -> None:
    later = render_calendar(shifts, name="Checkout on call", generated_at=GENERATED_AT + timedelta(days=3))
    first = [str(e["UID"]) for e in Calendar.from_ical(feed).walk("VEVENT")]
    second = [str(e["UID"]) for e in Calendar.from_ical(later).walk("VEVENT")]
    assert len(set(first)) == len(first) == len(shifts)
    assert first == second


def test_uid_follows_schedule_role_user_and_start_but_not_end() -> None:
    base = CalendarShift(
        "checkout", "Checkout primary", "primary", "alice", local(2026, 3, 6, 17), local(2026, 3, 9, 9)
    )
    assert base.uid == replace(base, end=local(2026, 3, 8, 9)).uid
    assert base.uid == replace(base, schedule_name="Renamed").uid
    for change in (
        {"schedule_id": "payments"},
        {"role": "secondary"},
        {"user": "bob"},
        {"start": local(2026, 3, 6, 18)},
    ):
        assert replace(base, **change).uid != base.uid, change


def test_valarm_only_when_asked(shifts: list[CalendarShift], feed: bytes) -> None:
    assert b"VALARM" not in feed
    with_alarm = render_calendar(
        shifts, name="Checkout on call", alarm=timedelta(minutes=15), generated_at=GENERATED_AT
    )
    events = Calendar.from_ical(with_alarm).walk("VEVENT")
    assert len(events) == len(shifts)
    for event in events:
        alarms = event.walk("VALARM")
        assert len(alarms) == 1
        assert str(alarms[0]["ACTION"]) == "DISPLAY"
        assert alarms[0]["TRIGGER"].dt == timedelta(minutes=-15)
        assert str(alarms[0]["DESCRIPTION"]) == str(event["SUMMARY"])


def test_output_is_deterministic_whatever_the_input_order(shifts: list[CalendarShift], feed: bytes) -> None:
    shuffled = list(shifts)
    random.Random(20260308).shuffle(shuffled)
    assert shuffled != shifts
    assert render_calendar(shuffled, name="Checkout on call", generated_at=GENERATED_AT) == feed
    assert render_calendar(list(reversed(shifts)), name="Checkout on call", generated_at=GENERATED_AT) == feed
    starts = [e["DTSTART"].dt for e in Calendar.from_ical(feed).walk("VEVENT")]
    assert starts == sorted(starts)


def test_empty_feed_is_a_valid_calendar() -> None:
    cal = Calendar.from_ical(render_calendar([], name="Nobody", generated_at=GENERATED_AT))
    assert cal.walk("VEVENT") == []
    assert str(cal["X-WR-CALNAME"]) == "Nobody"


@pytest.mark.parametrize(
    "shift",
    [
        CalendarShift("s", "S", "primary", "a", datetime(2026, 3, 8, 9), datetime(2026, 3, 9, 9)),
        CalendarShift("s", "S", "primary", "a", local(2026, 3, 9, 9), local(2026, 3, 9, 9)),
        CalendarShift("s", "S", "primary", "a", local(2026, 3, 9, 9), local(2026, 3, 8, 9)),
    ],
    ids=["naive", "empty", "reversed"],
)
def test_rejects_naive_or_empty_shifts(shift: CalendarShift) -> None:
    with pytest.raises(ValueError):
        render_calendar([shift], name="x", generated_at=GENERATED_AT)


def test_rejects_two_shifts_with_one_uid_and_bad_hints() -> None:
    one = CalendarShift("s", "S", "primary", "a", local(2026, 3, 6, 17), local(2026, 3, 9, 9))
    other = CalendarShift("s", "S", "primary", "a", local(2026, 3, 6, 17), local(2026, 3, 10, 9))
    with pytest.raises(ValueError, match="UID"):
        render_calendar([one, other], name="x", generated_at=GENERATED_AT)
    with pytest.raises(ValueError, match="refresh"):
        render_calendar([one], name="x", refresh=timedelta(0), generated_at=GENERATED_AT)
    with pytest.raises(ValueError, match="alarm"):
        render_calendar([one], name="x", alarm=timedelta(minutes=-5), generated_at=GENERATED_AT)
    with pytest.raises(ValueError, match="offset"):
        render_calendar([one], name="x", generated_at=datetime(2026, 3, 1))
