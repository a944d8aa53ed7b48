"""Maintenance windows: when a service's new alerts are held (stored, shown `suppressed`, paging nobody).

See docs/escalation.md, "Maintenance windows and snooze".

Two kinds hold a service: ad-hoc windows (`pager maintenance start`, stored in the database) and
recurring weekly windows declared on the service in its policy file (the restriction grammar of
schedules, in a zone of their own). `hold_at` says whether any of them holds the service at an
instant and until when: windows that touch or overlap are one hold, so an alert held by back-to-back
windows is released once, at the end of the last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from pager.core.model import WEEKDAYS, Restriction
from pager.core.restrictions import RestrictionWindows

# How many touching windows one hold may chain through (a guard: real windows never come close).
MAX_CHAINED = 32


@dataclass(frozen=True)
class RecurringWindow:
    """A weekly maintenance window of a service: `restriction` read in `zone`."""

    restriction: Restriction
    zone: ZoneInfo

    def describe(self) -> str:
        """`recurring maintenance sun 02:00-04:00 Europe/Berlin`."""
        days = ",".join(WEEKDAYS[day] for day in sorted(self.restriction.days))
        end = self.restriction.end.strftime("%H:%M")
        span = f"{self.restriction.start.strftime('%H:%M')}-{'24:00' if end == '00:00' else end}"
        return f"recurring maintenance {days} {span} {self.zone.key}"

    def around(self, instant: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence holding `instant` ([start, end)), or None."""
        return RestrictionWindows((self.restriction,), self.zone).window_at(instant)


@dataclass(frozen=True)
class AdHocWindow:
    """A maintenance window someone started: [start, end) on one service."""

    id: int
    start: datetime
    end: datetime
    reason: str = ""

    def describe(self) -> str:
        """`maintenance window 3 (database upgrade)`."""
        return f"maintenance window {self.id}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class Hold:
    """A service is held until `until` by the window `name` describes (`window_id`: an ad-hoc one's)."""

    name: str
    until: datetime
    window_id: int | None = None


def hold_at(
    instant: datetime, ad_hoc: Sequence[AdHocWindow], recurring: Sequence[RecurringWindow]
) -> Hold | None:
    """The hold on a service at `instant`, or None when no window holds it then.

    The hold is named after the window holding `instant` that ends last, and lasts until the end of
    the chain of windows that touch or overlap it.
    """
    spans = _spans_at(instant, ad_hoc, recurring)
    if not spans:
        return None
    name, window_id, until = max(spans, key=lambda span: span[2])
    for _ in range(MAX_CHAINED):
        later = [end for _, _, end in _spans_at(until, ad_hoc, recurring) if end > until]
        if not later:
            break
        until = max(later)
    return Hold(name, until, window_id)


def _spans_at(
    instant: datetime, ad_hoc: Sequence[AdHocWindow], recurring: Sequence[RecurringWindow]
) -> list[tuple[str, int | None, datetime]]:
    spans: list[tuple[str, int | None, datetime]] = [
        (w.describe(), w.id, w.end) for w in ad_hoc if w.start <= instant < w.end
    ]
    for window in recurring:
        occurrence = window.around(instant)
        if occurrence is not None:
            spans.append((window.describe(), None, occurrence[1]))
    return spans


def overlapping(start: datetime, end: datetime, windows: Sequence[AdHocWindow]) -> AdHocWindow | None:
    """The first of `windows` that shares an instant with [start, end), or None."""
    return next((w for w in windows if w.start < end and start < w.end), None)
