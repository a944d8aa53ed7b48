"""When a postmortem should be published (docs/incidents.md, "Postmortems").

`postmortem_due: 3 business days` counts Monday to Friday in the commander's zone from the instant
the incident was resolved, and ends at the same local wall time; a plain duration (`48h`) is simply
added. Pure: the zone is passed in.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pager.core.incident_model import PostmortemDue
from pager.core.localtime import localize, to_wall

SATURDAY = 5  # date.weekday(): Monday is 0


def add_business_days(wall: datetime, days: int) -> datetime:
    """Naive local `wall` moved forward by `days` weekdays (Saturday and Sunday not counted), at the
    same wall time. From a Friday, 1 business day is the Monday; from a Saturday, the Monday too."""
    if days < 0:
        raise ValueError(f"business days must not be negative: {days}")
    moved = wall
    counted = 0
    while counted < days:
        moved += timedelta(days=1)
        if moved.weekday() < SATURDAY:
            counted += 1
    return moved


def postmortem_due_at(resolved_at: datetime, due: PostmortemDue, tz: ZoneInfo) -> datetime:
    """The UTC instant a postmortem of an incident resolved at `resolved_at` is due.

    Business days are counted on the wall clock of `tz` (the commander's zone), so the due instant
    keeps its local time across a daylight-saving change; a wall time skipped by spring-forward is
    read with the offset before the change (`localize`). A duration is added to the instant.
    """
    if due.duration is not None:
        return resolved_at + due.duration
    days = due.business_days if due.business_days is not None else 0
    return localize(add_business_days(to_wall(resolved_at, tz), days), tz)
