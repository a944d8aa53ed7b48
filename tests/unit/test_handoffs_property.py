"""Handoff detection agrees with a brute-force oracle minute by minute, however the windows are cut.

Random schedules of 1..3 rotation layers (restricted, overnight, secondary, RRULE; often right at a
clock change) with 0..5 overrides of every kind, from tests.unit.test_override_kinds_property, with
every wall time on a whole minute. The oracle asks tests/oracle.py (which shares no code with
pager.core) who holds each role at every minute of the window; a handoff is a minute whose holder
differs from the minute before's. `handoffs_between` must list exactly those, and cutting the window
into consecutive pieces (a cursor moving forward) must list each exactly once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from itertools import pairwise

from hypothesis import given, note, settings
from hypothesis import strategies as st

from pager.core.handoffs import handoffs_between
from pager.core.model import ROLES, Handoff, Role, RotationLayer, Schedule
from tests.oracle import asked_instants, on_call
from tests.unit.test_override_kinds_property import draw_kind_overrides
from tests.unit.test_schedule_property import ScheduleCase, draw_layer

MINUTE = timedelta(minutes=1)
SPAN_MINUTES = 3 * 60
EXAMPLES = max(50, (settings.default.max_examples or 100) // 100)


@st.composite
def minute_cases(draw: st.DrawFn) -> ScheduleCase:
    """A schedule whose every wall time is on a whole minute, and overrides on whole minutes."""
    asked = draw(asked_instants())
    layers = []
    for i in range(draw(st.integers(1, 3))):
        layer = draw_layer(draw, i, asked, 5)
        assert isinstance(layer, RotationLayer)
        layers.append(replace(layer, start=layer.start.replace(second=0, microsecond=0)))
    schedule = Schedule("sched", "Random", asked.tz.key, tuple(layers))
    at = asked.at.replace(second=0, microsecond=0)
    return ScheduleCase(schedule, at, draw_kind_overrides(draw, schedule, at))


def oracle_handoffs(case: ScheduleCase, role: Role) -> list[Handoff]:
    """Who holds `role` at every minute of the window; a change between two minutes is a handoff."""

    def holder(minute: int) -> str | None:
        answer = on_call(case.schedule, case.at + minute * MINUTE, case.overrides)
        return answer.primary if role == "primary" else answer.secondary

    found = []
    before = holder(0)
    for minute in range(1, SPAN_MINUTES + 1):
        now = holder(minute)
        if now != before:
            found.append(Handoff(role, case.at + minute * MINUTE, before, now))
        before = now
    return found


@settings(max_examples=EXAMPLES)
@given(case=minute_cases(), cuts=st.lists(st.integers(1, SPAN_MINUTES * 60 - 1), max_size=6))
def test_handoffs_are_the_oracles_minute_by_minute_changes_once_per_cut_window(
    case: ScheduleCase, cuts: list[int]
) -> None:
    note(repr(case))
    end = case.at + SPAN_MINUTES * MINUTE
    points = [case.at, *sorted({case.at + timedelta(seconds=s) for s in cuts}), end]
    for role in ROLES:
        expected = oracle_handoffs(case, role)
        assert handoffs_between(case.schedule, role, case.at, end, case.overrides) == expected
        pieces = [
            handoff
            for after, until in pairwise(points)
            for handoff in handoffs_between(case.schedule, role, after, until, case.overrides)
        ]
        assert pieces == expected, f"windows cut at {points}"
