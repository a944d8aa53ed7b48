"""Rotation handoffs and holders agree with the brute-force oracle on random rotations
(docs/schedules.md, "Time rules").

Each case asks about an instant in 1990..2060 (often right at a clock change) of a rotation started
within about 10,000 shifts before it, in zones with odd clock changes, with starts on gap and fold
wall times. Decades-long spans are covered by the fixed vectors in test_rotation_vectors.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, note
from hypothesis import strategies as st

from pager.core.durations import ShiftLength, parse_shift
from pager.core.model import RotationLayer, Schedule
from pager.core.rotation import Rotation
from pager.core.schedule import resolve_on_call
from tests.oracle import OracleRotation, asked_instants, shift_back, time_of_day, wall_at

SHIFTS = tuple(
    parse_shift(text) for text in ("1h", "2h", "5h", "8h", "12h", "1d", "2d", "3d", "1w", "2w", "1mo", "3mo")
)
SECOND = timedelta(seconds=1)
# How many shifts before the asked instant a rotation starts: mostly a few, sometimes thousands.
_DISTANCE_SCALES = (4,) * 16 + (100,) * 14 + (1_000,) * 8 + (10_000,) * 2


def month_day(draw: st.DrawFn, anchor: datetime, shift: ShiftLength) -> datetime:
    """For monthly rotations, often start on the 28th..31st so clamping to the month's end matters."""
    if shift.unit != "mo":
        return anchor
    day = draw(st.sampled_from((anchor.day, 28, 29, 30, 31)))
    try:
        return anchor.replace(day=day)
    except ValueError:
        return anchor


@dataclass(frozen=True)
class RotationCase:
    tz: ZoneInfo
    start: datetime
    shift: ShiftLength
    at: datetime
    members: tuple[str, ...]


@st.composite
def rotation_cases(draw: st.DrawFn) -> RotationCase:
    asked = draw(asked_instants())
    shift = draw(st.sampled_from(SHIFTS))
    wall = wall_at(asked.at, asked.tz)
    # Starts stay after 1900 (a 3-month rotation can't reach back 10,000 shifts from 1990).
    one_shift = shift_back(datetime(2001, 1, 1), shift, -1) - datetime(2001, 1, 1)
    farthest = (wall - datetime(1900, 1, 1)) // one_shift
    distance = min(farthest, draw(st.integers(0, draw(st.sampled_from(_DISTANCE_SCALES)))))
    anchor = shift_back(wall, shift, distance)
    start = month_day(draw, time_of_day(draw, anchor, asked), shift)
    members = tuple(f"m{i}" for i in range(draw(st.integers(1, 6))))
    return RotationCase(asked.tz, start, shift, asked.at, members)


def check_against_oracle(rotation: Rotation, oracle: OracleRotation, at: datetime, window: timedelta) -> None:
    expected = oracle.index_at(at)
    assert rotation.index_at(at) == expected
    assert rotation.handoff(0) == oracle.handoff(0)
    if expected is not None:
        # The handoff that decided, and its neighbours, to the second.
        for k in range(max(0, expected - 1), expected + 3):
            assert rotation.handoff(k) == oracle.handoff(k), f"handoff {k}"
        for k in (expected, expected + 1):
            for instant in (oracle.handoff(k) - SECOND, oracle.handoff(k), oracle.handoff(k) + SECOND):
                assert rotation.index_at(instant) == oracle.index_at(instant), (
                    f"around handoff {k}: {instant}"
                )
    low = at - window / 2
    assert rotation.handoffs_between(low, low + window) == oracle.handoffs_between(low, low + window)


@given(case=rotation_cases(), window_shifts=st.integers(0, 4), jitter=st.integers(0, 3600))
def test_fixed_shift_rotation_matches_oracle(case: RotationCase, window_shifts: int, jitter: int) -> None:
    note(f"Rotation({case.start!r}, ZoneInfo({case.tz.key!r}), shift={case.shift!r}) at {case.at}")
    rotation = Rotation(case.start, case.tz, shift=case.shift)
    oracle = OracleRotation(case.start, case.tz, shift=case.shift)
    one_shift = shift_back(datetime(2001, 1, 1), case.shift, -1) - datetime(2001, 1, 1)
    check_against_oracle(rotation, oracle, case.at, one_shift * window_shifts + SECOND * jitter)
    # The holder, through a one-layer schedule: member k mod n of the oracle's k.
    k = oracle.index_at(case.at)
    layer = RotationLayer("only", case.members, case.start, shift=case.shift)
    answer = resolve_on_call(Schedule("s", "S", case.tz.key, (layer,)), case.at)
    assert answer.primary == (None if k is None else case.members[k % len(case.members)])


# RRULE handoffs (docs/schedules.md, `handoff`): rule, and how far back (days) a start may sit to
# stay a few hundred occurrences from the asked instant.
RRULES = (
    ("FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=9;BYMINUTE=0", 700),
    ("FREQ=DAILY;BYHOUR=8,20", 150),
    ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO", 2000),
    ("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", 200),  # lands in spring-forward gaps
    ("FREQ=WEEKLY;BYDAY=SU;BYHOUR=1;BYMINUTE=30", 1000),  # lands in fall-back folds
    ("FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=23;BYMINUTE=30", 5000),
    ("FREQ=HOURLY;INTERVAL=12", 100),
)


@st.composite
def rrule_cases(draw: st.DrawFn) -> tuple[ZoneInfo, datetime, str, datetime]:
    asked = draw(asked_instants())
    rule, max_days = draw(st.sampled_from(RRULES))
    days_back = draw(st.integers(0, draw(st.sampled_from((3, 3, 30, max_days)))))
    start = time_of_day(draw, wall_at(asked.at, asked.tz) - timedelta(days=days_back), asked)
    return asked.tz, start, rule, asked.at


@given(case=rrule_cases(), window_hours=st.integers(0, 24 * 15))
def test_rrule_rotation_matches_oracle(
    case: tuple[ZoneInfo, datetime, str, datetime], window_hours: int
) -> None:
    tz, start, rule, at = case
    note(f"Rotation({start!r}, ZoneInfo({tz.key!r}), rrule={rule!r}) at {at}")
    rotation = Rotation(start, tz, rrule=rule)
    oracle = OracleRotation(start, tz, rrule=rule)
    check_against_oracle(rotation, oracle, at, timedelta(hours=window_hours))
