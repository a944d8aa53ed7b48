"""The schedule picture's layout: bars placed and clipped in the window, overrides and gaps shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pager.core.durations import parse_shift
from pager.core.model import Override, RotationLayer, Schedule
from pager.core.timeline import bars, day_ticks, place, schedule_timeline

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday
END = START + timedelta(days=4)


def test_place_scales_and_clips_to_the_window() -> None:
    assert place(START, START + timedelta(days=1), START, END, 400.0) == (0.0, 100.0)
    assert place(START - timedelta(days=1), START + timedelta(days=2), START, END, 400.0) == (0.0, 200.0)
    assert place(END, END + timedelta(hours=1), START, END, 400.0) is None


def test_bars_keep_only_spans_in_the_window_in_start_order() -> None:
    spans = [
        (START + timedelta(days=2), START + timedelta(days=3), "b"),
        (START, START + timedelta(days=1), "a"),
        (END + timedelta(days=1), END + timedelta(days=2), "outside"),
    ]
    found = bars(spans, "shift", START, END, 400.0)
    assert [(bar.label, bar.x, bar.width) for bar in found] == [("a", 0.0, 100.0), ("b", 200.0, 100.0)]


def test_day_ticks_fall_on_local_midnights_including_a_dst_change() -> None:
    # Berlin springs forward on 2026-03-29: that local day is 23 hours long.
    start = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    end = start + timedelta(days=3)
    ticks = day_ticks("Europe/Berlin", start, end, 72.0)
    assert [tick.label for tick in ticks] == ["Sun 29", "Mon 30", "Tue 31"]
    assert [round(tick.x, 3) for tick in ticks] == [11.0, 34.0, 58.0]


def _schedule() -> Schedule:
    layer = RotationLayer(
        name="daily", members=("ann", "bob"), start=datetime(2026, 3, 2, 0, 0), shift=parse_shift("1d")
    )
    return Schedule(id="team", name="Team", time_zone="UTC", layers=(layer,))


def test_rows_show_layers_overrides_final_roles_and_gaps() -> None:
    removal = Override(
        "team", "primary", START + timedelta(days=1), START + timedelta(days=2), "bob", kind="remove"
    )
    timeline = schedule_timeline(_schedule(), [removal], START, END, width=400.0)
    labels = [row.label for row in timeline.rows]
    assert labels == ["layer daily (primary)", "overrides", "primary (final)", "secondary (final)"]
    layer, overrides, primary, secondary = timeline.rows
    assert [bar.label for bar in layer.bars] == ["ann", "bob", "ann", "bob"]
    assert [(bar.label, bar.x, bar.width) for bar in overrides.bars] == [
        ("primary: remove bob", 100.0, 100.0)
    ]
    # Ann stands in for bob on day two, so she holds three days in a row.
    assert [(bar.label, bar.x, bar.width) for bar in primary.bars] == [
        ("ann", 0.0, 300.0),
        ("bob", 300.0, 100.0),
    ]
    # The next member after ann would be bob, who is removed that day: nobody is secondary, a gap.
    assert [(bar.label, bar.kind, bar.x) for bar in secondary.bars] == [
        ("bob", "shift", 0.0),
        ("nobody", "gap", 100.0),
        ("bob", "shift", 200.0),
        ("ann", "shift", 300.0),
    ]


def test_an_empty_window_is_refused() -> None:
    with pytest.raises(ValueError, match="end after"):
        schedule_timeline(_schedule(), [], START, START)
