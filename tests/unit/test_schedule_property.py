"""Schedule resolution agrees with the brute-force oracle, and final shifts agree with point lookups.

Random schedules of 1..3 rotation layers (some restricted, some overnight, some secondary) and 0..2
overrides, asked about instants in 1990..2060, often right at a clock change
(docs/schedules.md, "Time rules" and "Who is on call: the rules").
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from itertools import pairwise

from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from pager.core.durations import ShiftLength, parse_shift
from pager.core.model import ROLES, FinalShift, Override, Restriction, Role, RotationLayer, Schedule
from pager.core.schedule import final_shifts, resolve_on_call, steady_on_call
from tests.oracle import Asked, asked_instants, change_points, on_call, shift_back, time_of_day, wall_at

SHIFTS = tuple(parse_shift(text) for text in ("1h", "8h", "12h", "1d", "2d", "1w", "2w", "1mo"))
RULES = ("FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=9;BYMINUTE=0", "FREQ=DAILY;BYHOUR=8,20")
USERS = ("ann", "bob", "cat", "dan", "eve", "fay")
SECOND = timedelta(seconds=1)
_QUARTERS = st.builds(
    time, st.sampled_from((0, 1, 2, 3, 6, 9, 17, 22, 23)) | st.integers(0, 23), st.sampled_from((0, 30, 15))
)


@st.composite
def restrictions(draw: st.DrawFn) -> Restriction:
    """A weekly window: daytime, overnight (to < from) or a full day (to == from)."""
    days = frozenset(draw(st.sets(st.integers(0, 6), min_size=1, max_size=7)))
    opens = draw(_QUARTERS)
    kind = draw(st.sampled_from(("any", "overnight", "full")))
    if kind == "full":
        return Restriction(days, opens, opens)
    closes = draw(_QUARTERS)
    if kind == "overnight" and closes > opens:
        opens, closes = closes, opens
    return Restriction(days, opens, closes)


_MEMBERS = st.lists(st.sampled_from(USERS), min_size=1, max_size=4, unique=True)
_WINDOWS = st.lists(restrictions(), max_size=2)
_SCALES = st.sampled_from((5, 5, 5, None))


def draw_layer(draw: st.DrawFn, index: int, asked: Asked, max_shifts_back: int) -> RotationLayer:
    """A rotation layer started a few shifts (or days, for an RRULE) before the asked instant."""
    members = tuple(draw(_MEMBERS))
    wall = wall_at(asked.at, asked.tz)
    shift: ShiftLength | None = None
    rule: str | None = None
    if draw(st.integers(0, 9)) == 0:
        rule = draw(st.sampled_from(RULES))
        anchor = wall - timedelta(days=draw(st.integers(0, 40)))
    else:
        shift = draw(st.sampled_from(SHIFTS))
        scale = draw(_SCALES) or max_shifts_back  # mostly close, keeping the oracle quick
        anchor = shift_back(wall, shift, draw(st.integers(0, scale)))
    start = time_of_day(draw, anchor, asked)
    windows = tuple(draw(_WINDOWS)) if draw(st.booleans()) else ()
    role: Role = "secondary" if draw(st.integers(0, 3)) == 0 else "primary"
    return RotationLayer(
        f"layer{index}", members, start, shift=shift, handoff_rrule=rule, restrictions=windows, role=role
    )


def draw_overrides(draw: st.DrawFn, schedule: Schedule, around: datetime) -> tuple[Override, ...]:
    """0..2 overrides near `around`; two of one role never overlap (which would win is unspecified)."""
    chosen: list[Override] = []
    for _ in range(draw(st.integers(0, 2))):
        role: Role = draw(st.sampled_from(ROLES))
        start = around + timedelta(minutes=15 * draw(st.integers(-4 * 72, 4 * 72)))
        end = start + timedelta(minutes=15 * draw(st.integers(1, 4 * 72)))
        user = draw(st.sampled_from(USERS))
        if any(o.role == role and o.start < end and start < o.end for o in chosen):
            continue
        chosen.append(Override(schedule.id, role, start, end, user))
    return tuple(chosen)


@dataclass(frozen=True)
class ScheduleCase:
    schedule: Schedule
    at: datetime
    overrides: tuple[Override, ...]


@st.composite
def schedule_cases(draw: st.DrawFn, max_shifts_back: int) -> ScheduleCase:
    asked = draw(asked_instants())
    layers = tuple(draw_layer(draw, i, asked, max_shifts_back) for i in range(draw(st.integers(1, 3))))
    schedule = Schedule("sched", "Random", asked.tz.key, layers)
    return ScheduleCase(schedule, asked.at, draw_overrides(draw, schedule, asked.at))


@given(case=schedule_cases(max_shifts_back=200))
def test_resolve_on_call_matches_oracle(case: ScheduleCase) -> None:
    note(repr(case))
    got = resolve_on_call(case.schedule, case.at, case.overrides)
    expected = on_call(case.schedule, case.at, case.overrides)
    assert (got.schedule, got.at) == (case.schedule.id, case.at)
    assert (got.primary, got.primary_source) == (expected.primary, expected.primary_source)
    assert (got.secondary, got.secondary_source) == (expected.secondary, expected.secondary_source)


def holder_in(shifts: Sequence[FinalShift], instant: datetime) -> str | None:
    """Who the final shifts say holds the role at `instant`."""
    # `shifts` are sorted and disjoint (checked first): the candidate is the last starting at or before.
    index = bisect_right([shift.start for shift in shifts], instant) - 1
    return shifts[index].user if index >= 0 and instant < shifts[index].end else None


def looked_up(case: ScheduleCase, role: Role, instant: datetime) -> str | None:
    answer = resolve_on_call(case.schedule, instant, case.overrides)
    return answer.primary if role == "primary" else answer.secondary


@given(
    case=schedule_cases(max_shifts_back=30),
    role=st.sampled_from(ROLES),
    before=st.integers(0, 3 * 24 * 4),
    # Window length in quarter hours: mostly up to two days, sometimes up to three weeks.
    length=st.sampled_from((12 * 4, 48 * 4, 48 * 4, 21 * 24 * 4)).flatmap(lambda most: st.integers(1, most)),
)
def test_final_shifts_agree_with_point_lookups(
    case: ScheduleCase, role: Role, before: int, length: int
) -> None:
    window_start = case.at - timedelta(minutes=15 * before)
    window_end = window_start + timedelta(minutes=15 * length)
    note(f"{case!r}\nfinal_shifts({role!r}, {window_start}, {window_end})")
    shifts = final_shifts(case.schedule, role, window_start, window_end, case.overrides)

    for earlier, later in pairwise(shifts):
        assert earlier.end <= later.start, "final shifts are sorted and do not overlap"
        assert earlier.end < later.start or earlier.user != later.user, (
            "one person's adjacent spans are merged"
        )
    points: set[datetime] = set()
    for shift in shifts:
        assert shift.role == role
        assert window_start <= shift.start < shift.end <= window_end
        points.update((shift.start - SECOND, shift.start, shift.start + SECOND))
        points.update((shift.start + (shift.end - shift.start) / 2, shift.end - SECOND, shift.end))
    # Gaps (nobody): their edges and middles, including before the first and after the last shift.
    edges = [window_start, *(edge for shift in shifts for edge in (shift.start, shift.end)), window_end]
    for gap_start, gap_end in zip(edges[::2], edges[1::2], strict=True):
        if gap_start < gap_end:
            points.update((gap_start, gap_start + (gap_end - gap_start) / 2, gap_end - SECOND))
    # Every instant where the answer may change, from the oracle, so no short span goes unnoticed.
    for change in change_points(case.schedule, window_start, window_end, case.overrides):
        points.update((change - SECOND, change))

    for instant in sorted(p for p in points if window_start <= p < window_end):
        assert holder_in(shifts, instant) == looked_up(case, role, instant), f"at {instant}"


@settings(max_examples=3_000)  # a quarter of the profile's: three oracle lookups and more per example
@given(
    case=schedule_cases(max_shifts_back=30),
    before=st.integers(0, 4 * 4),
    # Window length: a group of triggers' microseconds and seconds, and quarter hours up to two days.
    length=st.sampled_from((timedelta(microseconds=1), timedelta(milliseconds=300), SECOND))
    | st.integers(1, 48 * 4).map(lambda quarters: timedelta(minutes=15 * quarters)),
)
def test_steady_on_call_is_never_wrong_inside_its_window(
    case: ScheduleCase, before: int, length: timedelta
) -> None:
    # What a group of triggers relies on (pager.services.alerting.decision_facts._resolved): an
    # answer for the window holds at every instant of it, including right before a change the
    # window ends at; where someone changes hands inside, there is no answer.
    start = case.at - timedelta(minutes=15 * before)
    end = start + length
    note(f"{case!r}\nsteady_on_call({start}, {end})")
    steady = steady_on_call(case.schedule, start, end, case.overrides)
    changes = change_points(case.schedule, start, end, case.overrides)
    instants = {start, start + (end - start) / 2, end - timedelta(microseconds=1)}
    for change in changes:
        instants.update(i for i in (change - timedelta(microseconds=1), change) if start <= i < end)
    holders = {
        (answer.primary, answer.secondary)
        for answer in (on_call(case.schedule, instant, case.overrides) for instant in instants)
    }
    event("steady" if steady is not None else "changes inside" if len(holders) > 1 else "no answer")
    if steady is not None:
        assert holders == {(steady.primary, steady.secondary)}
    if len(holders) > 1:
        assert steady is None
