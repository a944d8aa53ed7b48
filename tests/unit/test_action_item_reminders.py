"""Which owners of overdue action items are reminded at `now`: once per local day in their own zone,
in their daytime only, one reminder listing all their overdue items; across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from pager.core.action_items import (
    OpenItem,
    in_daytime,
    is_overdue,
    overdue_before,
    owner_zone,
    reminders_due,
)

NEW_YORK = "America/New_York"  # 2026: EST -> EDT on Sunday 8 March


def item(
    item_id: int = 1,
    *,
    owner: int = 7,
    due: date = date(2026, 3, 5),
    zone: str | None = NEW_YORK,
    drill: bool = False,
) -> OpenItem:
    return OpenItem(
        id=item_id,
        incident_id=3,
        incident_number=12,
        title=f"Fix thing {item_id}",
        owner_user_id=owner,
        owner_handle=f"user{owner}",
        owner_time_zone=zone,
        due_on=due,
        drill=drill,
    )


def test_overdue_is_open_and_due_before_today_in_the_owners_zone() -> None:
    tz = owner_zone(NEW_YORK)
    late_evening = datetime(2026, 3, 6, 4, 0, tzinfo=UTC)  # 5 March 23:00 in New York, 6 March in UTC
    assert not is_overdue(date(2026, 3, 5), "open", late_evening, tz)  # due today there
    assert is_overdue(date(2026, 3, 5), "open", late_evening, owner_zone(None))  # UTC: yesterday
    assert is_overdue(date(2026, 3, 4), "open", late_evening, tz)
    assert not is_overdue(date(2026, 3, 4), "done", late_evening, tz)


def test_an_unknown_or_missing_zone_reads_as_utc() -> None:
    assert owner_zone(None).key == "UTC"
    assert owner_zone("Mars/Olympus").key == "UTC"
    assert owner_zone(NEW_YORK).key == NEW_YORK


def test_no_reminder_before_nine_or_from_nine_in_the_evening_local() -> None:
    tz = owner_zone(NEW_YORK)
    assert not in_daytime(datetime(2026, 3, 6, 13, 59, tzinfo=UTC), tz)  # 08:59 EST
    assert in_daytime(datetime(2026, 3, 6, 14, 0, tzinfo=UTC), tz)  # 09:00 EST
    assert in_daytime(datetime(2026, 3, 7, 1, 59, tzinfo=UTC), tz)  # 20:59 EST
    assert not in_daytime(datetime(2026, 3, 7, 2, 0, tzinfo=UTC), tz)  # 21:00 EST
    assert reminders_due([item()], datetime(2026, 3, 6, 8, 0, tzinfo=UTC)) == []  # 03:00: let them sleep


def test_one_reminder_per_owner_lists_all_their_overdue_items() -> None:
    now = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)  # 10:00 EST on 6 March
    items = [
        item(1, due=date(2026, 3, 5)),
        item(2, due=date(2026, 3, 1)),
        item(3, due=date(2026, 3, 6)),  # due today: not overdue
        item(4, owner=8, zone=None, due=date(2026, 3, 2)),
    ]
    reminders = reminders_due(items, now)
    assert [(r.owner_user_id, r.day, [i.id for i in r.items]) for r in reminders] == [
        (7, date(2026, 3, 6), [2, 1]),
        (8, date(2026, 3, 6), [4]),
    ]
    assert reminders[0].cause_key == "action-item:owner-7:2026-03-06"
    subject, text = reminders[0].text()
    assert subject == "2 overdue action items"
    assert text.splitlines()[1:] == [
        "- #2 Fix thing 2 (incident 12, due 2026-03-01)",
        "- #1 Fix thing 1 (incident 12, due 2026-03-05)",
    ]


def test_drill_items_are_marked() -> None:
    now = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
    (only_drills,) = reminders_due([item(1, drill=True)], now)
    assert only_drills.drill
    (mixed,) = reminders_due([item(1, drill=True), item(2)], now)
    assert not mixed.drill
    assert "#1 [DRILL] Fix thing 1" in mixed.text()[1]


def test_once_per_local_day_at_nine_local_across_spring_forward() -> None:
    # Every 15 minutes from Friday 6 March 00:00 EST to Wednesday 11 March: the cause key changes once
    # a local day, and each day's first reminder falls at 09:00 New York time, EST then EDT.
    first_at: dict[str, datetime] = {}
    now = datetime(2026, 3, 6, 5, 0, tzinfo=UTC)
    while now < datetime(2026, 3, 11, tzinfo=UTC):
        for reminder in reminders_due([item(1), item(2, due=date(2026, 3, 4))], now):
            first_at.setdefault(reminder.cause_key, now)
        now += timedelta(minutes=15)
    assert first_at == {
        "action-item:owner-7:2026-03-06": datetime(2026, 3, 6, 14, 0, tzinfo=UTC),
        "action-item:owner-7:2026-03-07": datetime(2026, 3, 7, 14, 0, tzinfo=UTC),
        "action-item:owner-7:2026-03-08": datetime(2026, 3, 8, 13, 0, tzinfo=UTC),  # EDT from here
        "action-item:owner-7:2026-03-09": datetime(2026, 3, 9, 13, 0, tzinfo=UTC),
        "action-item:owner-7:2026-03-10": datetime(2026, 3, 10, 13, 0, tzinfo=UTC),
    }


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC", None])
def test_the_loaders_bound_keeps_every_overdue_item(zone: str | None) -> None:
    # The loader reads items due before overdue_before(now): an item overdue in any zone is among them.
    now = datetime(2026, 3, 6, 23, 0, tzinfo=UTC)  # already 7 March 13:00 on Kiritimati (UTC+14)
    tz = owner_zone(zone)
    for days_back in range(-3, 4):
        due = now.astimezone(tz).date() - timedelta(days=days_back)
        if is_overdue(due, "open", now, tz):
            assert due < overdue_before(now)
