"""The picture of a schedule over a window, as bars on rows: what the console draws as an SVG.

Pure: from the schedule, its overrides and the window it returns rows of bars with x positions and
widths in the picture's own units (0..width), so the template only draws rectangles. Rows, top to
bottom: each layer on its own (who it would put on call with no other layer and no override), the
overrides, then the final primary and secondary with every gap (nobody holds the role) as a bar of
its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Literal

from pager.core.coverage import find_gaps
from pager.core.localtime import localize, require_aware, to_wall, zone
from pager.core.model import ROLES, Override, Schedule
from pager.core.schedule import final_shifts

BarKind = Literal["shift", "override", "gap"]


@dataclass(frozen=True)
class Bar:
    """`[start, end)` drawn from x to x + width."""

    x: float
    width: float
    label: str
    kind: BarKind
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Row:
    label: str
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Tick:
    """A local midnight of the schedule's zone, at x."""

    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    start: datetime
    end: datetime
    width: float
    rows: tuple[Row, ...]
    ticks: tuple[Tick, ...]


def place(
    start: datetime, end: datetime, window_start: datetime, window_end: datetime, width: float
) -> tuple[float, float] | None:
    """(x, width) of `[start, end)` clipped to the window, scaled to `width`; None when outside it."""
    start, end = max(start, window_start), min(end, window_end)
    if end <= start:
        return None
    scale = width / (window_end - window_start).total_seconds()
    return (start - window_start).total_seconds() * scale, (end - start).total_seconds() * scale


def bars(
    spans: Sequence[tuple[datetime, datetime, str]],
    kind: BarKind,
    window_start: datetime,
    window_end: datetime,
    width: float,
) -> tuple[Bar, ...]:
    """Bars of the spans (start, end, label) inside the window, in start order."""
    found = []
    for start, end, label in sorted(spans, key=lambda span: span[0]):
        placed = place(start, end, window_start, window_end, width)
        if placed is not None:
            found.append(
                Bar(placed[0], placed[1], label, kind, max(start, window_start), min(end, window_end))
            )
    return tuple(found)


def override_label(override: Override) -> str:
    """How an override reads on its bar."""
    if override.kind == "replace":
        return f"{override.user} for {override.instead_of}"
    return f"{override.kind} {override.user}"


def day_ticks(time_zone: str, start: datetime, end: datetime, width: float) -> tuple[Tick, ...]:
    """A tick at each local midnight of `time_zone` inside [start, end) (DST days are 23 or 25 h)."""
    tz = zone(time_zone)
    day = to_wall(start, tz).date()
    ticks = []
    while True:
        midnight = localize(datetime.combine(day, time(0)), tz)
        if midnight >= end:
            break
        if midnight >= start:
            x = (midnight - start).total_seconds() * width / (end - start).total_seconds()
            ticks.append(Tick(x, f"{midnight.astimezone(tz):%a %d}"))
        day += timedelta(days=1)
    return tuple(ticks)


def schedule_timeline(
    schedule: Schedule, overrides: Sequence[Override], start: datetime, end: datetime, width: float = 1000.0
) -> Timeline:
    """The rows of `schedule` over [start, end): layers, overrides, final roles with their gaps."""
    start, end = require_aware(start), require_aware(end)
    if end <= start:
        raise ValueError("the window must end after it starts")
    rows = []
    for layer in schedule.layers:
        alone = replace(schedule, layers=(layer,))
        spans = [(s.start, s.end, s.user) for s in final_shifts(alone, layer.role, start, end)]
        rows.append(Row(f"layer {layer.name} ({layer.role})", bars(spans, "shift", start, end, width)))
    own = [o for o in overrides if o.schedule == schedule.id]
    override_spans = [(o.start, o.end, f"{o.role}: {override_label(o)}") for o in own]
    rows.append(Row("overrides", bars(override_spans, "override", start, end, width)))
    for role in ROLES:
        shifts = final_shifts(schedule, role, start, end, overrides)
        held = bars([(s.start, s.end, s.user) for s in shifts], "shift", start, end, width)
        gaps = bars(
            [(g.start, g.end, "nobody") for g in find_gaps(role, shifts, start, end)],
            "gap",
            start,
            end,
            width,
        )
        rows.append(Row(f"{role} (final)", tuple(sorted(held + gaps, key=lambda bar: bar.x))))
    return Timeline(start, end, width, tuple(rows), day_ticks(schedule.time_zone, start, end, width))
