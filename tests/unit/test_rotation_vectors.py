"""Hand-checked vectors for rotations and schedules (docs/schedules.md, "Time rules" and its
examples, "Who is on call: the rules").

Every expected instant below was worked out by hand from the zone's rules (and agrees with
tests/oracle.py). Clock changes used:
  America/Chicago 2026: 03-08 02:00 CST -> 03:00 CDT (08:00Z); 11-01 02:00 CDT -> 01:00 CST (07:00Z)
  Europe/Berlin 2026: 03-29 02:00 CET -> 03:00 CEST (01:00Z); 10-25 03:00 CEST -> 02:00 CET (01:00Z)
  Australia/Lord_Howe 2026: 04-05 02:00 +11 -> 01:30 +10:30 (04-04 15:00Z); 10-04 02:00 -> 02:30 (15:30Z)
  Antarctica/Troll 2026: 03-29 01:00 +00 -> 03:00 +02 (01:00Z)
  Pacific/Apia 2011: 12-29 24:00 -10 -> 12-31 00:00 +14 (12-30 10:00Z); 2011-12-30 never happened
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pager.core.durations import parse_shift
from pager.core.model import FinalShift, OnCall, Override, Restriction, RotationLayer, Schedule
from pager.core.rotation import Rotation
from pager.core.schedule import final_shifts, resolve_on_call
from tests.oracle import OracleRotation

SECOND = timedelta(seconds=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text + "+00:00")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text)


# zone, start (local wall), shift, then k=handoff k in UTC; `k~` marks a handoff that vanishes (a later
# one lands on it). Indented lines continue the line above.
HANDOFF_TABLE = """
# docs/schedules.md, "Time rules": weekly from 02:30 on 03-01; 03-08 02:30 does not exist -> 03:30 CDT.
America/Chicago 2026-03-01T02:30 1w 0=2026-03-01T08:30 1=2026-03-08T08:30 2=2026-03-15T07:30
# docs/schedules.md, "Time rules": daily 09:00 stays 09:00 local across fall back.
America/Chicago 2026-10-01T09:00 1d 30=2026-10-31T14:00 31=2026-11-01T15:00
# Chicago, daily at 02:30 over spring forward (the 03-08 shift lasts 23 h), 01:30 over fall back (25 h).
America/Chicago 2026-03-06T02:30 1d 0=2026-03-06T08:30 1=2026-03-07T08:30 2=2026-03-08T08:30
    3=2026-03-09T07:30
America/Chicago 2026-10-30T01:30 1d 0=2026-10-30T06:30 1=2026-10-31T06:30 2=2026-11-01T06:30
    3=2026-11-02T07:30
# Chicago, weekly Sunday 01:30 over fall back: the ambiguous 01:30 is the first (CDT) one.
America/Chicago 2026-10-25T01:30 1w 0=2026-10-25T06:30 1=2026-11-01T06:30 2=2026-11-08T07:30
# Chicago, hourly: 02:30 becomes 03:30 CDT, the same instant as handoff 3, so shift 2 vanishes.
America/Chicago 2026-03-08T00:30 1h 0=2026-03-08T06:30 1=2026-03-08T07:30 2~=2026-03-08T08:30
    3=2026-03-08T08:30 4=2026-03-08T09:30
# Chicago, hourly over fall back: the 01:30 (CDT) shift lasts two hours.
America/Chicago 2026-11-01T00:30 1h 0=2026-11-01T05:30 1=2026-11-01T06:30 2=2026-11-01T08:30
    3=2026-11-01T09:30
# Chicago, 12 h: 02:00 does not exist -> 03:00 CDT (11 h shift); over fall back a 13 h shift.
America/Chicago 2026-03-07T14:00 12h 0=2026-03-07T20:00 1=2026-03-08T08:00 2=2026-03-08T19:00
    3=2026-03-09T07:00
America/Chicago 2026-10-31T13:00 12h 0=2026-10-31T18:00 1=2026-11-01T06:00 2=2026-11-01T19:00
# Chicago, monthly on the 31st: clamped to the month's end, always from start (Mar 31, not Mar 28).
America/Chicago 2026-01-31T09:00 1mo 0=2026-01-31T15:00 1=2026-02-28T15:00 2=2026-03-31T14:00
    3=2026-04-30T14:00 9=2026-10-31T14:00 10=2026-11-30T15:00 12=2027-01-31T15:00 13=2027-02-28T15:00
    25=2028-02-29T15:00 37=2029-02-28T15:00
America/Chicago 2026-08-31T01:30 1mo 0=2026-08-31T06:30 1=2026-09-30T06:30 2=2026-10-31T06:30
    3=2026-11-30T07:30
# Berlin, daily 02:30: 03-29 02:30 does not exist -> 03:30 CEST; 10-25 02:30 happens twice -> first.
Europe/Berlin 2026-03-27T02:30 1d 0=2026-03-27T01:30 1=2026-03-28T01:30 2=2026-03-29T01:30
    3=2026-03-30T00:30
Europe/Berlin 2026-10-24T02:30 1d 0=2026-10-24T00:30 1=2026-10-25T00:30 2=2026-10-26T01:30
Europe/Berlin 2026-03-22T02:30 1w 0=2026-03-22T01:30 1=2026-03-29T01:30 2=2026-04-05T00:30
Europe/Berlin 2026-10-18T02:30 1w 0=2026-10-18T00:30 1=2026-10-25T00:30 2=2026-11-01T01:30
Europe/Berlin 2026-03-29T00:30 1h 0=2026-03-28T23:30 1=2026-03-29T00:30 2~=2026-03-29T01:30
    3=2026-03-29T01:30 4=2026-03-29T02:30
Europe/Berlin 2026-10-25T01:30 1h 0=2026-10-24T23:30 1=2026-10-25T00:30 2=2026-10-25T02:30
    3=2026-10-25T03:30
Europe/Berlin 2026-03-28T14:30 12h 0=2026-03-28T13:30 1=2026-03-29T01:30 2=2026-03-29T12:30
Europe/Berlin 2026-10-24T14:30 12h 0=2026-10-24T12:30 1=2026-10-25T00:30 2=2026-10-25T13:30
Europe/Berlin 2026-01-31T02:30 1mo 0=2026-01-31T01:30 1=2026-02-28T01:30 2=2026-03-31T00:30
    8=2026-09-30T00:30 9=2026-10-31T01:30
# Berlin, monthly on the 29th at 02:30: the March handoff falls in the gap.
Europe/Berlin 2026-01-29T02:30 1mo 0=2026-01-29T01:30 1=2026-02-28T01:30 2=2026-03-29T01:30
    3=2026-04-29T00:30
# Lord Howe's 30-minute change: 02:15 does not exist (read at +10:30); 01:45 happens twice (first: +11).
Australia/Lord_Howe 2026-10-02T02:15 1d 0=2026-10-01T15:45 1=2026-10-02T15:45 2=2026-10-03T15:45
    3=2026-10-04T15:15
Australia/Lord_Howe 2026-04-04T01:45 1d 0=2026-04-03T14:45 1=2026-04-04T14:45 2=2026-04-05T15:15
Australia/Lord_Howe 2026-10-04T01:15 1h 0=2026-10-03T14:45 1=2026-10-03T15:45 2=2026-10-03T16:15
# Troll's 2-hour change: 01:30 does not exist -> read at +00 (03:30 +02).
Antarctica/Troll 2026-03-27T01:30 1d 0=2026-03-27T01:30 1=2026-03-28T01:30 2=2026-03-29T01:30
    3=2026-03-29T23:30
# Apia skipped 2011-12-30: its 09:00 (read at -10) is the same instant as 12-31 09:00 (+14).
Pacific/Apia 2011-12-28T09:00 1d 0=2011-12-28T19:00 1=2011-12-29T19:00 2~=2011-12-30T19:00
    3=2011-12-30T19:00 4=2011-12-31T19:00
# Far future: weekly from 2026 asked in 2055 (1539 weeks); daily from 1995 on the 2060 fall-back day.
America/Chicago 2026-01-05T09:00 1w 1538=2055-06-28T14:00 1539=2055-07-05T14:00
America/Chicago 1995-01-02T09:00 1d 24050=2060-11-06T14:00 24051=2060-11-07T15:00
# Hourly from 1995 asked in 2060: 573,782 naive hours later.
Europe/Berlin 1995-01-01T00:00 1h 573781=2060-06-15T11:00 573782=2060-06-15T12:00
"""


def handoff_vectors() -> list[tuple[str, str, str, dict[int, str], tuple[int, ...]]]:
    rows: list[list[str]] = []
    for line in HANDOFF_TABLE.strip().splitlines():
        if line.startswith("#"):
            continue
        if line.startswith(" "):
            rows[-1].extend(line.split())
        else:
            rows.append(line.split())
    vectors = []
    for zone, start, shift, *pairs in rows:
        handoffs = {int(k.rstrip("~")): instant for k, instant in (pair.split("=") for pair in pairs)}
        vanished = tuple(int(pair.split("=")[0][:-1]) for pair in pairs if pair.split("=")[0].endswith("~"))
        vectors.append((zone, start, shift, handoffs, vanished))
    return vectors


HANDOFF_VECTORS = handoff_vectors()


@pytest.mark.parametrize(("zone", "start", "shift", "handoffs", "vanished"), HANDOFF_VECTORS)
def test_handoff_instants(
    zone: str, start: str, shift: str, handoffs: dict[int, str], vanished: tuple[int, ...]
) -> None:
    rotation = Rotation(local(start), ZoneInfo(zone), shift=parse_shift(shift))
    for k, expected in handoffs.items():
        assert rotation.handoff(k) == utc(expected), f"handoff {k}"
        # The handoff instant belongs to the incoming member, unless a later handoff lands on it.
        if k not in vanished:
            assert rotation.index_at(utc(expected)) == k
            previous = k - 2 if k - 1 in vanished else k - 1
            assert rotation.index_at(utc(expected) - SECOND) == (previous if previous >= 0 else None)


# The property tests trust tests/oracle.py; these hand-worked answers keep it honest (all but the
# half-million-handoff one, which would take the step-by-step oracle too long).
@pytest.mark.parametrize(
    ("zone", "start", "shift", "handoffs", "vanished"), [v for v in HANDOFF_VECTORS if max(v[3]) < 100_000]
)
def test_oracle_agrees_with_hand_vectors(
    zone: str, start: str, shift: str, handoffs: dict[int, str], vanished: tuple[int, ...]
) -> None:
    oracle = OracleRotation(local(start), ZoneInfo(zone), shift=parse_shift(shift))
    for k, expected in handoffs.items():
        assert oracle.handoff(k) == utc(expected), f"handoff {k}"
        assert (oracle.index_at(utc(expected)) == k) is (k not in vanished)


def test_vanished_shift_is_never_held_nor_listed() -> None:
    # Apia, members [a, b, c] daily at 09:00: c's 2011-12-30 shift is zero-length, so b hands straight to a.
    rotation = Rotation(local("2011-12-28T09:00"), ZoneInfo("Pacific/Apia"), shift=parse_shift("1d"))
    assert rotation.index_at(utc("2011-12-30T18:59:59")) == 1
    assert rotation.index_at(utc("2011-12-30T19:00:00")) == 3
    assert rotation.handoffs_between(utc("2011-12-29T00:00"), utc("2011-12-31T19:00")) == [
        (utc("2011-12-29T19:00"), 1),
        (utc("2011-12-30T19:00"), 3),
    ]
    # Chicago hourly from 00:30 on spring-forward night: the 02:30 handoff vanishes.
    hourly = Rotation(local("2026-03-08T00:30"), ZoneInfo("America/Chicago"), shift=parse_shift("1h"))
    assert hourly.handoffs_between(utc("2026-03-08T06:00"), utc("2026-03-08T10:00")) == [
        (utc("2026-03-08T06:30"), 0),
        (utc("2026-03-08T07:30"), 1),
        (utc("2026-03-08T08:30"), 3),
        (utc("2026-03-08T09:30"), 4),
    ]


def test_nothing_before_the_first_handoff() -> None:
    rotation = Rotation(local("2026-03-01T02:30"), ZoneInfo("America/Chicago"), shift=parse_shift("1w"))
    assert rotation.index_at(utc("2026-03-01T08:29:59")) is None
    assert rotation.index_at(utc("2026-03-01T08:30:00")) == 0


def test_rrule_handoffs_keep_local_time_across_dst() -> None:
    # Member 0 holds from DTSTART (Mon 03-02 09:00 CST); each later occurrence hands to the next member.
    rule = "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=9;BYMINUTE=0"
    rotation = Rotation(local("2026-03-02T09:00"), ZoneInfo("America/Chicago"), rrule=rule)
    expected = ["2026-03-02T15:00", "2026-03-05T15:00", "2026-03-09T14:00", "2026-03-12T14:00"]
    assert [rotation.handoff(k) for k in range(4)] == [utc(text) for text in expected]
    assert rotation.index_at(utc("2026-03-09T13:59:59")) == 1
    assert rotation.index_at(utc("2026-03-09T14:00:00")) == 2


def test_weekly_handoff_over_spring_forward_through_schedule() -> None:
    layer = RotationLayer("weekly", ("a", "b"), local("2026-03-01T02:30"), shift=parse_shift("1w"))
    schedule = Schedule("s", "S", "America/Chicago", (layer,))
    assert resolve_on_call(schedule, utc("2026-03-08T08:29")).primary == "a"
    assert resolve_on_call(schedule, utc("2026-03-08T08:30")).primary == "b"


# A schedule of three layers: weekly primary, weekday business hours over it, and a weekday night
# desk (22:00-06:00) as secondary.
WEEKDAYS = frozenset(range(5))
CHECKOUT = Schedule(
    "checkout",
    "Checkout primary",
    "America/Chicago",
    (
        RotationLayer(
            "weekly", ("alice", "bob", "carol"), local("2026-01-05T09:00"), shift=parse_shift("1w")
        ),
        RotationLayer(
            "business-hours",
            ("dana", "erin"),
            local("2026-01-05T09:00"),
            shift=parse_shift("1d"),
            restrictions=(Restriction(WEEKDAYS, time(9), time(17)),),
        ),
        RotationLayer(
            "night-desk",
            ("frank", "gina"),
            local("2026-01-05T22:00"),
            shift=parse_shift("1d"),
            restrictions=(Restriction(WEEKDAYS, time(22), time(6)),),
            role="secondary",
        ),
    ),
)


def answer(at: str, overrides: tuple[Override, ...] = ()) -> tuple[str | None, ...]:
    got: OnCall = resolve_on_call(CHECKOUT, utc(at), overrides)
    return got.primary, got.primary_source, got.secondary, got.secondary_source


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # Wed 12:00 CST: business-hours (day 2 -> dana) masks weekly; secondary is dana's next.
        ("2026-01-07T18:00", ("dana", "layer:business-hours", "erin", "next-in:business-hours")),
        # Wed 20:00 CST: only weekly (week 0 -> alice); no night desk yet.
        ("2026-01-08T02:00", ("alice", "layer:weekly", "bob", "next-in:weekly")),
        # Wed 23:00 CST: night desk (day 2 -> frank) is secondary.
        ("2026-01-08T05:00", ("alice", "layer:weekly", "frank", "layer:night-desk")),
        # docs/schedules.md, "Time rules": Fri 22:00 to Sat 06:00 local is covered
        # (Sat 03:00 CST here; day 4 -> frank).
        ("2026-01-10T03:59:59", ("alice", "layer:weekly", "bob", "next-in:weekly")),
        ("2026-01-10T04:00:00", ("alice", "layer:weekly", "frank", "layer:night-desk")),
        ("2026-01-10T09:00:00", ("alice", "layer:weekly", "frank", "layer:night-desk")),
        ("2026-01-10T11:59:59", ("alice", "layer:weekly", "frank", "layer:night-desk")),
        ("2026-01-10T12:00:00", ("alice", "layer:weekly", "bob", "next-in:weekly")),
        # Mon 09:00 CST: weekly hands to bob and business-hours opens on day 7 -> erin at the same instant.
        ("2026-01-12T14:59:59", ("alice", "layer:weekly", "bob", "next-in:weekly")),
        ("2026-01-12T15:00:00", ("erin", "layer:business-hours", "dana", "next-in:business-hours")),
        ("2026-01-12T23:00:00", ("bob", "layer:weekly", "carol", "next-in:weekly")),
    ],
)
def test_layer_masking(at: str, expected: tuple[str | None, ...]) -> None:
    assert answer(at) == expected


def override(role: str, start: str, end: str, user: str) -> Override:
    return Override("checkout", "primary" if role == "primary" else "secondary", utc(start), utc(end), user)


def test_overrides_beat_layers_for_their_span() -> None:
    olga = (override("primary", "2026-01-07T17:00", "2026-01-07T19:00", "olga"),)
    assert answer("2026-01-07T16:59:59", olga)[:2] == ("dana", "layer:business-hours")
    assert answer("2026-01-07T17:00", olga) == ("olga", "override", "erin", "next-in:business-hours")
    assert answer("2026-01-07T19:00", olga)[:2] == ("dana", "layer:business-hours")
    # The derived secondary is the first of dana's next members that is not the final primary:
    # with [dana, erin] and erin overriding there is nobody left; with [alice, bob, carol] and bob
    # overriding alice's week, bob is skipped for carol.
    erin = (override("primary", "2026-01-07T17:00", "2026-01-07T19:00", "erin"),)
    assert answer("2026-01-07T18:00", erin) == ("erin", "override", None, None)
    bob = (override("primary", "2026-01-08T01:00", "2026-01-08T03:00", "bob"),)
    assert answer("2026-01-08T02:00", bob) == ("bob", "override", "carol", "next-in:weekly")
    # A secondary override beats the night desk too.
    sam = (override("secondary", "2026-01-08T04:30", "2026-01-08T05:30", "sam"),)
    assert answer("2026-01-08T05:00", sam) == ("alice", "layer:weekly", "sam", "override")
    assert answer("2026-01-08T05:30", sam) == ("alice", "layer:weekly", "frank", "layer:night-desk")


def spans(shifts: list[FinalShift]) -> list[tuple[str, datetime, datetime]]:
    return [(shift.user, shift.start, shift.end) for shift in shifts]


def test_final_shifts_of_a_day_with_an_override() -> None:
    olga = (override("primary", "2026-01-07T17:00", "2026-01-07T19:00", "olga"),)
    window = (utc("2026-01-07T12:00"), utc("2026-01-08T12:00"))
    assert spans(final_shifts(CHECKOUT, "primary", *window, olga)) == [
        ("alice", utc("2026-01-07T12:00"), utc("2026-01-07T15:00")),
        ("dana", utc("2026-01-07T15:00"), utc("2026-01-07T17:00")),
        ("olga", utc("2026-01-07T17:00"), utc("2026-01-07T19:00")),
        ("dana", utc("2026-01-07T19:00"), utc("2026-01-07T23:00")),
        ("alice", utc("2026-01-07T23:00"), utc("2026-01-08T12:00")),
    ]
    assert spans(final_shifts(CHECKOUT, "secondary", *window, olga)) == [
        ("bob", utc("2026-01-07T12:00"), utc("2026-01-07T15:00")),
        ("erin", utc("2026-01-07T15:00"), utc("2026-01-07T23:00")),
        ("bob", utc("2026-01-07T23:00"), utc("2026-01-08T04:00")),
        ("frank", utc("2026-01-08T04:00"), utc("2026-01-08T12:00")),
    ]


NIGHTS = Schedule(
    "nights",
    "Nights",
    "America/Chicago",
    (
        RotationLayer(
            "nights",
            ("nina",),
            local("2026-01-01T12:00"),
            shift=parse_shift("1w"),
            restrictions=(Restriction(frozenset(range(7)), time(22), time(6)),),
        ),
    ),
)


def test_overnight_restriction_is_9h_on_fall_back_night_and_7h_on_spring_forward_night() -> None:
    fall = final_shifts(NIGHTS, "primary", utc("2026-10-31T12:00"), utc("2026-11-01T18:00"))
    assert spans(fall) == [
        ("nina", utc("2026-11-01T03:00"), utc("2026-11-01T12:00"))
    ]  # 22:00 CDT -> 06:00 CST
    spring = final_shifts(NIGHTS, "primary", utc("2026-03-07T12:00"), utc("2026-03-08T18:00"))
    assert spans(spring) == [
        ("nina", utc("2026-03-08T04:00"), utc("2026-03-08T11:00"))
    ]  # 22:00 CST -> 06:00 CDT
    assert resolve_on_call(NIGHTS, utc("2026-03-08T10:59:59")).primary == "nina"
    assert resolve_on_call(NIGHTS, utc("2026-03-08T11:00:00")).primary is None


def test_schedule_started_in_1995_asked_in_2060() -> None:
    # Daily 09:00 handoffs among five; 2060-11-07 is a fall-back Sunday, so 09:00 CST = 15:00Z.
    layer = RotationLayer(
        "daily", ("u0", "u1", "u2", "u3", "u4"), local("1995-01-02T09:00"), shift=parse_shift("1d")
    )
    schedule = Schedule("long", "Long", "America/Chicago", (layer,))
    before = resolve_on_call(schedule, utc("2060-11-07T14:59:59"))
    after = resolve_on_call(schedule, utc("2060-11-07T15:00:00"))
    assert (before.primary, before.secondary) == ("u0", "u1")  # handoff 24,050
    assert (after.primary, after.secondary) == ("u1", "u2")  # handoff 24,051
    assert spans(final_shifts(schedule, "primary", utc("2060-11-06T00:00"), utc("2060-11-08T00:00"))) == [
        ("u4", utc("2060-11-06T00:00"), utc("2060-11-06T14:00")),
        ("u0", utc("2060-11-06T14:00"), utc("2060-11-07T15:00")),
        ("u1", utc("2060-11-07T15:00"), utc("2060-11-08T00:00")),
    ]
