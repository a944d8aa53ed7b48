"""A lookup walks only the overrides that meet its window, and gives the same answers as with all of
them: a year of stored overrides must not be walked at every instant of the board's next two days."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from pager.core.durations import ShiftLength
from pager.core.model import ROLES, Handoff, Override, RotationLayer, Schedule
from pager.core.schedule import CompiledSchedule, final_shifts, next_handoff, resolve_on_call

DAY = timedelta(days=1)
START = datetime(2026, 6, 1, 12, tzinfo=UTC)
SCHEDULE = Schedule(
    "ops",
    "Ops",
    "UTC",
    (RotationLayer("weekly", ("ann", "bob", "cat"), datetime(2026, 1, 5, 9), shift=ShiftLength(1, "w")),),
)


def a_year_of_overrides() -> list[Override]:
    """Two hours at noon every day for a year, members in turn, plus one of another schedule."""
    daily = [
        Override(
            "ops", "primary", START + n * DAY, START + n * DAY + timedelta(hours=2), ("dan", "eve")[n % 2]
        )
        for n in range(365)
    ]
    return [*daily, Override("other", "primary", START, START + 400 * DAY, "zed")]


def test_each_instant_is_resolved_against_the_windows_overrides_only(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    resolve = CompiledSchedule.resolve

    def counting(self: CompiledSchedule, t: datetime, overrides: Sequence[Override]) -> object:
        seen.append(len(overrides))
        return resolve(self, t, overrides)

    monkeypatch.setattr(CompiledSchedule, "resolve", counting)
    overrides = a_year_of_overrides()
    now = START + timedelta(hours=1)
    resolve_on_call(SCHEDULE, now, overrides)
    assert seen == [1]  # the override in force at `now`, not the year
    seen.clear()
    final_shifts(SCHEDULE, "primary", now, now + 2 * DAY, overrides)
    assert seen and max(seen) <= 3  # the two days' overrides (and the one in force at the start)
    seen.clear()
    next_handoff(SCHEDULE, now, "primary", overrides)
    assert seen and max(seen) <= 3


@pytest.mark.parametrize("offset_hours", [0, 1, 2, 14, 24 * 100 + 13])
def test_answers_are_those_of_the_windows_overrides_alone(offset_hours: int) -> None:
    """Windows starting at an override's start, inside it, at its end (half-open), between two."""
    overrides = a_year_of_overrides()
    start = START + timedelta(hours=offset_hours)
    end = start + 3 * DAY
    meeting = [o for o in overrides if o.schedule == "ops" and o.start < end and o.end > start]
    for role in ROLES:
        assert final_shifts(SCHEDULE, role, start, end, overrides) == final_shifts(
            SCHEDULE, role, start, end, meeting
        )
    assert resolve_on_call(SCHEDULE, start, overrides) == resolve_on_call(SCHEDULE, start, meeting)
    if offset_hours < 24:  # the first day's override is dan's; from its end (half-open) the layer's ann
        assert resolve_on_call(SCHEDULE, start, overrides).primary == ("dan" if offset_hours < 2 else "ann")


def test_next_handoff_looks_no_further_than_asked() -> None:
    alone = Schedule(
        "solo",
        "Solo",
        "UTC",
        (RotationLayer("one", ("ann",), datetime(2026, 1, 5, 9), shift=ShiftLength(1, "w")),),
    )
    far = [Override("solo", "primary", START + 100 * DAY, START + 101 * DAY, "dan")]
    assert next_handoff(alone, START, "primary", far, within=35 * DAY) is None
    assert next_handoff(alone, START, "primary", far, within=101 * DAY) == Handoff(
        "primary", START + 100 * DAY, "ann", "dan"
    )
    assert next_handoff(alone, START, "primary", far) == Handoff("primary", START + 100 * DAY, "ann", "dan")
