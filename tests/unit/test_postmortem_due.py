"""When a postmortem is due: business days Monday to Friday on the commander's wall clock, ending at
the same local time (across weekends and daylight-saving changes), or a plain duration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pager.core.incident_model import PostmortemDue
from pager.core.postmortem_due import add_business_days, postmortem_due_at

NEW_YORK = ZoneInfo("America/New_York")  # 2026: EST -> EDT on Sunday 8 March, back on 1 November
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (datetime(2026, 3, 2, 10), 3, datetime(2026, 3, 5, 10)),  # Monday -> Thursday
        (datetime(2026, 3, 5, 10), 3, datetime(2026, 3, 10, 10)),  # Thursday -> Tuesday, over a weekend
        (datetime(2026, 3, 6, 23, 30), 1, datetime(2026, 3, 9, 23, 30)),  # Friday -> Monday
        (datetime(2026, 3, 7, 12), 1, datetime(2026, 3, 9, 12)),  # Saturday -> Monday
        (datetime(2026, 3, 8, 12), 5, datetime(2026, 3, 13, 12)),  # Sunday -> Friday
        (datetime(2026, 3, 2, 10), 0, datetime(2026, 3, 2, 10)),
    ],
)
def test_business_days_skip_saturday_and_sunday(start: datetime, days: int, expected: datetime) -> None:
    assert add_business_days(start, days) == expected


def test_negative_business_days_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_days(datetime(2026, 3, 2), -1)


def test_three_business_days_over_a_weekend_and_spring_forward_keep_the_local_time() -> None:
    # Friday 6 March 10:00 EST (UTC-5) -> Wednesday 11 March 10:00 EDT (UTC-4): 4 days 23 hours later.
    resolved = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
    due = postmortem_due_at(resolved, PostmortemDue(business_days=3), NEW_YORK)
    assert due == datetime(2026, 3, 11, 14, 0, tzinfo=UTC)
    assert due.astimezone(NEW_YORK).hour == 10
    assert due - resolved == timedelta(days=4, hours=23)


def test_fall_back_gives_an_hour_more() -> None:
    # Friday 30 October 16:00 EDT -> Tuesday 3 November 16:00 EST.
    resolved = datetime(2026, 10, 30, 20, 0, tzinfo=UTC)
    due = postmortem_due_at(resolved, PostmortemDue(business_days=2), NEW_YORK)
    assert due == datetime(2026, 11, 3, 21, 0, tzinfo=UTC)


def test_the_zone_decides_the_weekday() -> None:
    # Friday 23:30 UTC is already Saturday in Berlin: one business day from there is Monday 00:30.
    resolved = datetime(2026, 3, 6, 23, 30, tzinfo=UTC)
    assert postmortem_due_at(resolved, PostmortemDue(business_days=1), BERLIN) == datetime(
        2026, 3, 8, 23, 30, tzinfo=UTC
    )
    # In UTC it is still Friday: one business day is Monday 23:30.
    assert postmortem_due_at(resolved, PostmortemDue(business_days=1), ZoneInfo("UTC")) == datetime(
        2026, 3, 9, 23, 30, tzinfo=UTC
    )


def test_a_wall_time_skipped_by_spring_forward_reads_with_the_offset_before() -> None:
    # Tehran skipped Monday 22 March 2021 00:00-01:00 local. Thursday 18 March 00:30 (+03:30) plus two
    # business days is Monday 00:30, which never showed on a clock there: read with +03:30, the
    # offset before the change (the same rule as schedules).
    tehran = ZoneInfo("Asia/Tehran")
    resolved = datetime(2021, 3, 17, 21, 0, tzinfo=UTC)  # Thursday 00:30 +03:30
    due = postmortem_due_at(resolved, PostmortemDue(business_days=2), tehran)
    assert due == datetime(2021, 3, 21, 21, 0, tzinfo=UTC)
    assert due.astimezone(tehran).isoformat() == "2021-03-22T01:30:00+04:30"


def test_a_plain_duration_is_added_to_the_instant() -> None:
    resolved = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
    rule = PostmortemDue(business_days=None, duration=timedelta(hours=48))
    assert postmortem_due_at(resolved, rule, NEW_YORK) == resolved + timedelta(hours=48)
