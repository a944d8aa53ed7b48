"""Night (22:00-07:00 in a person's own zone), docs/analytics.md: exact figures across DST changes,
and a property test against a brute-force oracle that walks the span minute by minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pager.core.night_hours import is_night, night_time

BERLIN = ZoneInfo("Europe/Berlin")
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Sao_Paulo",  # its clocks used to change at midnight
    "Australia/Lord_Howe",  # a half-hour change
    "Asia/Kathmandu",  # +05:45
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/Havana",  # changed at 00:00 / 01:00
    "Pacific/Apia",  # skipped 2011-12-30 entirely
    "Asia/Tehran",
]


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_a_spring_forward_night_is_an_hour_shorter() -> None:
    # 2026-03-28 22:00 CET = 21:00Z to 2026-03-29 07:00 CEST = 05:00Z: 8 hours, not 9.
    assert night_time(utc(2026, 3, 28, 12), utc(2026, 3, 29, 12), BERLIN) == timedelta(hours=8)


def test_a_fall_back_night_is_an_hour_longer() -> None:
    # 2026-10-24 22:00 CEST = 20:00Z to 2026-10-25 07:00 CET = 06:00Z: 10 hours.
    assert night_time(utc(2026, 10, 24, 12), utc(2026, 10, 25, 12), BERLIN) == timedelta(hours=10)


def test_instants_are_read_on_the_local_wall_clock() -> None:
    assert is_night(utc(2026, 3, 29, 4, 59), BERLIN)  # 06:59 CEST
    assert not is_night(utc(2026, 3, 29, 5, 0), BERLIN)  # 07:00 CEST (06:00 on a CET clock)
    assert is_night(utc(2026, 3, 28, 21, 0), BERLIN)  # 22:00 CET
    assert not is_night(utc(2026, 3, 28, 20, 59), BERLIN)


def test_an_empty_or_reversed_span_has_no_night() -> None:
    assert night_time(utc(2026, 1, 1, 23), utc(2026, 1, 1, 23), BERLIN) == timedelta(0)
    assert night_time(utc(2026, 1, 2), utc(2026, 1, 1), BERLIN) == timedelta(0)


def night_minutes_by_walking(start: datetime, end: datetime, zone: ZoneInfo) -> int:
    """The oracle: every minute of [start, end), each read on the zone's wall clock."""
    minutes, at = 0, start
    while at < end:
        local = at.astimezone(zone)
        minutes += local.hour >= 22 or local.hour < 7
        at += timedelta(minutes=1)
    return minutes


@settings(max_examples=1_000, deadline=None)
@given(
    zone=st.sampled_from(ZONES).map(ZoneInfo),
    start=st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2035, 12, 31)).map(
        lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
    ),
    minutes=st.integers(min_value=0, max_value=3 * 24 * 60),
)
@example(zone=BERLIN, start=utc(2026, 3, 28, 18), minutes=24 * 60)
@example(zone=BERLIN, start=utc(2026, 10, 24, 18), minutes=24 * 60)
@example(zone=ZoneInfo("Pacific/Apia"), start=utc(2011, 12, 29), minutes=3 * 24 * 60)
@example(zone=ZoneInfo("Australia/Lord_Howe"), start=utc(2026, 4, 4, 10), minutes=24 * 60)
def test_night_time_matches_walking_minute_by_minute(zone: ZoneInfo, start: datetime, minutes: int) -> None:
    end = start + timedelta(minutes=minutes)
    assert night_time(start, end, zone) == timedelta(minutes=night_minutes_by_walking(start, end, zone))
