"""The calculator with every override kind agrees with the brute-force oracle, minute by minute.

Random schedules of 1..3 rotation layers (tests.unit.test_schedule_property's strategy) and 0..4
overrides of the kinds add, remove and replace, overlapping freely, on any minute, in a random order
(creation order decides). Over a few hours around the asked instant, every minute is asked of
`resolve_on_call` and of the oracle (tests/oracle.py, which shares no code with pager.core), and
`final_shifts` must name the same person for every minute (docs/schedules.md, "Overrides").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, note, settings
from hypothesis import strategies as st

from pager.core.model import ROLES, Override, OverrideKind, Role, Schedule
from pager.core.schedule import final_shifts, resolve_on_call
from tests.oracle import asked_instants, on_call
from tests.unit.test_schedule_property import USERS, ScheduleCase, draw_layer, holder_in

MINUTE = timedelta(minutes=1)
SPAN_MINUTES = 3 * 60  # the window asked about, minute by minute
KINDS: tuple[OverrideKind, ...] = ("add", "remove", "replace")
# Each example asks SPAN_MINUTES instants of the slow oracle: a hundredth of the profile's examples.
EXAMPLES = max(50, (settings.default.max_examples or 100) // 100)


def draw_kind_overrides(draw: st.DrawFn, schedule: Schedule, around: datetime) -> tuple[Override, ...]:
    """0..5 overrides of any kind within the window, mostly naming people the layers have.

    Windows are long and overlap often, so an add, a replace and a removal of the same person meet.
    """
    members = sorted({m for layer in schedule.layers for m in getattr(layer, "members", ())})
    people = st.sampled_from(members) | st.sampled_from(USERS[:2])
    chosen: list[Override] = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(KINDS))
        role: Role = draw(st.sampled_from(("primary", "primary", "secondary")))
        start = around + MINUTE * draw(st.integers(-30, SPAN_MINUTES // 2))
        end = start + MINUTE * draw(st.integers(1, SPAN_MINUTES))
        user = draw(people)
        if chosen and draw(st.booleans()):
            # Act on an earlier override: its role, its person, a window overlapping its own.
            earlier = draw(st.sampled_from(chosen))
            role = earlier.role
            user = draw(st.sampled_from([p for p in (earlier.user, earlier.instead_of) if p is not None]))
            start = earlier.start + MINUTE * draw(st.integers(-30, 60))
        instead_of = (
            draw(people.filter(lambda other, user=user: other != user)) if kind == "replace" else None
        )
        chosen.append(Override(schedule.id, role, start, end, user, kind, instead_of))
    return tuple(chosen)


@st.composite
def kind_cases(draw: st.DrawFn) -> ScheduleCase:
    asked = draw(asked_instants())
    layers = tuple(draw_layer(draw, i, asked, 5) for i in range(draw(st.integers(1, 3))))
    schedule = Schedule("sched", "Random", asked.tz.key, layers)
    at = asked.at.replace(second=0, microsecond=0)
    return ScheduleCase(schedule, at, draw_kind_overrides(draw, schedule, at))


@settings(max_examples=EXAMPLES)
@given(case=kind_cases())
def test_every_minute_agrees_with_the_oracle(case: ScheduleCase) -> None:
    note(repr(case))
    window_start, window_end = case.at, case.at + SPAN_MINUTES * MINUTE
    shifts = {
        role: final_shifts(case.schedule, role, window_start, window_end, case.overrides) for role in ROLES
    }
    instant = window_start
    while instant < window_end:
        got = resolve_on_call(case.schedule, instant, case.overrides)
        expected = on_call(case.schedule, instant, case.overrides)
        assert (got.primary, got.primary_source) == (expected.primary, expected.primary_source), instant
        assert (got.secondary, got.secondary_source) == (expected.secondary, expected.secondary_source), (
            instant
        )
        assert holder_in(shifts["primary"], instant) == expected.primary, instant
        assert holder_in(shifts["secondary"], instant) == expected.secondary, instant
        instant += MINUTE
