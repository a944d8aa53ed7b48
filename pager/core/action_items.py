"""Action items' rules (docs/incidents.md, "Action items"): when one is overdue, and which owners
are due their daily reminder. Pure: items, zones and `now` are passed in.

An item is due on a date in its owner's zone (their `time_zone`, else UTC) and overdue from the
next local day on. Each owner of an overdue item is reminded once per local day, with one message
listing all their overdue items, and only in their daytime (from 09:00 to 21:00 local): an action
item is no reason to wake anyone. The reminder's cause key is the owner's, not an item's
(`action-item:owner-<user id>:<YYYY-MM-DD>`), so three overdue items still make one page a day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pager.core.localtime import zone

DAYTIME_START = time(9, 0)  # reminders go out from this local time...
DAYTIME_END = time(21, 0)  # ...until this one (exclusive)
UTC_ZONE = ZoneInfo("UTC")


def owner_zone(name: str | None) -> ZoneInfo:
    """The zone a person's dates are read in: their own, else UTC (also for a name tz data lacks)."""
    if not name:
        return UTC_ZONE
    try:
        return zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC_ZONE


def local_date(now: datetime, tz: ZoneInfo) -> date:
    """The date `now` falls on in `tz`."""
    return now.astimezone(tz).date()


def is_overdue(due_on: date, status: str, now: datetime, tz: ZoneInfo) -> bool:
    """Open and due before today in the owner's zone (due today is not overdue yet)."""
    return status == "open" and due_on < local_date(now, tz)


@dataclass(frozen=True)
class OpenItem:
    """An open action item, with what its owner's reminder says about it."""

    id: int
    incident_id: int
    incident_number: int
    title: str
    owner_user_id: int
    owner_handle: str
    owner_time_zone: str | None
    due_on: date
    drill: bool = False


@dataclass(frozen=True)
class OwnerReminder:
    """One owner's reminder of the day: their overdue items, oldest due first."""

    owner_user_id: int
    owner_handle: str
    day: date  # in the owner's zone
    items: tuple[OpenItem, ...]

    @property
    def cause_key(self) -> str:
        """`action-item:owner-<user id>:<YYYY-MM-DD>`: one page per owner per local day."""
        return f"{owner_cause_prefix(self.owner_user_id)}:{self.day.isoformat()}"

    @property
    def drill(self) -> bool:
        """Every item comes from a drill: the whole reminder is marked [DRILL]."""
        return all(item.drill for item in self.items)

    def text(self) -> tuple[str, str]:
        """(subject, body) of the reminder."""
        count = len(self.items)
        subject = f"{count} overdue action item{'s' if count != 1 else ''}"
        lines = [f"{subject} (run `pager action done ID` when finished):"]
        for item in self.items:
            mark = "[DRILL] " if item.drill and not self.drill else ""
            lines.append(
                f"- #{item.id} {mark}{item.title} (incident {item.incident_number}, "
                f"due {item.due_on.isoformat()})"
            )
        return subject, "\n".join(lines)


def owner_cause_prefix(owner_user_id: int) -> str:
    """The cause key of every reminder of one owner (cancelled when they have nothing overdue)."""
    return f"action-item:owner-{owner_user_id}"


def in_daytime(now: datetime, tz: ZoneInfo) -> bool:
    """Whether `now` is in the owner's daytime (DAYTIME_START <= local time < DAYTIME_END)."""
    local = now.astimezone(tz).time()
    return DAYTIME_START <= local < DAYTIME_END


def reminders_due(items: Iterable[OpenItem], now: datetime) -> list[OwnerReminder]:
    """The owners to remind at `now`: those with an overdue open item who are in their daytime.

    Deciding again later the same local day gives the same cause key, so the outbox sends once;
    the next local day (in the owner's zone, whatever daylight saving did) gives a new one.
    """
    by_owner: dict[int, list[OpenItem]] = {}
    for item in items:
        tz = owner_zone(item.owner_time_zone)
        if item.due_on < local_date(now, tz):
            by_owner.setdefault(item.owner_user_id, []).append(item)
    reminders = []
    for owner_id, overdue in sorted(by_owner.items()):
        tz = owner_zone(overdue[0].owner_time_zone)
        if not in_daytime(now, tz):
            continue
        overdue.sort(key=lambda item: (item.due_on, item.id))
        reminders.append(
            OwnerReminder(owner_id, overdue[0].owner_handle, local_date(now, tz), tuple(overdue))
        )
    return reminders


def overdue_before(now: datetime) -> date:
    """A due date no overdue item can be on or after, in any zone (no zone is more than a day ahead
    of UTC): what the loader may filter on before the owners' zones are known."""
    return (now.astimezone(UTC) + timedelta(days=1)).date()
