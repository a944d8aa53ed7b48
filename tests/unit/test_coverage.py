"""Coverage: gaps per role to the second, hours that add up, night hours across DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from pager.core.coverage import find_gaps, measure_coverage, night_windows, person_loads
from pager.core.durations import ShiftLength
from pager.core.localtime import zone
from pager.core.model import FinalShift, IcalLayer, Restriction, RotationLayer, Schedule

H = timedelta(hours=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def shift(user: str, start: datetime, end: datetime) -> FinalShift:
    return FinalShift("primary", user, start, end)


def weekly(name: str, members: tuple[str, ...], role: str = "primary", **kw: object) -> RotationLayer:
    return RotationLayer(
        name=name,
        members=members,
        start=datetime(2026, 1, 5, 9, 0),
        shift=ShiftLength(1, "w"),
        role=role,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def ics(*events: tuple[str, str, str]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//pager tests//EN"]
    for n, (user, start, end) in enumerate(events):
        lines += [
            "BEGIN:VEVENT",
            f"UID:e{n}@pager.example",
            "DTSTAMP:20260101T000000Z",
            f"SUMMARY:{user}",
            f"DTSTART:{start}",
            f"DTEND:{end}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def test_find_gaps_is_the_complement_of_the_shifts() -> None:
    a, b = utc(2026, 6, 1, 0), utc(2026, 6, 2, 0)
    shifts = [
        shift("x", utc(2026, 6, 1, 2), utc(2026, 6, 1, 5)),
        shift("y", utc(2026, 6, 1, 5), utc(2026, 6, 1, 8)),  # adjacent: no gap between
        shift("z", utc(2026, 6, 1, 7), utc(2026, 6, 1, 9)),  # overlapping input is tolerated
        shift("x", utc(2026, 6, 1, 10), utc(2026, 6, 1, 23)),
    ]
    gaps = find_gaps("primary", shifts, a, b)
    assert [(g.start, g.end) for g in gaps] == [
        (a, utc(2026, 6, 1, 2)),
        (utc(2026, 6, 1, 9), utc(2026, 6, 1, 10)),
        (utc(2026, 6, 1, 23), b),
    ]
    assert find_gaps("secondary", [], a, b)[0].length == timedelta(days=1)
    assert find_gaps("primary", [shift("x", a, b)], a, b) == []


def test_a_planted_gap_is_found_to_the_second() -> None:
    schedule = Schedule(
        id="planted",
        name="planted",
        time_zone="Europe/Berlin",
        layers=(
            IcalLayer(
                name="cal",
                ics_text=ics(
                    ("alice", "20260601T100000Z", "20260601T123456Z"),
                    ("bob", "20260601T123513Z", "20260601T180000Z"),
                ),
            ),
        ),
    )
    start, end = utc(2026, 6, 1, 9), utc(2026, 6, 1, 19)
    report = measure_coverage(schedule, start, end)
    primary = report.roles["primary"]
    assert [(g.start, g.end) for g in primary.gaps] == [
        (start, utc(2026, 6, 1, 10)),
        (utc(2026, 6, 1, 12, 34, 56), utc(2026, 6, 1, 12, 35, 13)),
        (utc(2026, 6, 1, 18), end),
    ]
    assert primary.gaps[1].length == timedelta(seconds=17)
    assert primary.covered + sum((g.length for g in primary.gaps), timedelta(0)) == end - start
    # An iCal layer gives no secondary: the whole window is a secondary gap.
    assert [(g.start, g.end) for g in report.roles["secondary"].gaps] == [(start, end)]
    loads = {p.user: p.on_call for p in primary.people}
    assert loads == {"alice": timedelta(hours=2, minutes=34, seconds=56), "bob": timedelta(seconds=19487)}


def test_a_restricted_layer_leaves_exact_gaps() -> None:
    weekdays = Restriction(frozenset(range(5)), time(9, 0), time(17, 0))
    schedule = Schedule(
        "office", "office", "America/Chicago", (weekly("office", ("a", "b"), restrictions=(weekdays,)),)
    )
    # Monday 2026-01-12 00:00 CST to the next Monday 00:00 CST (UTC-6 all week).
    start, end = utc(2026, 1, 12, 6), utc(2026, 1, 19, 6)
    gaps = measure_coverage(schedule, start, end).roles["primary"].gaps
    expected = [(start, utc(2026, 1, 12, 15))]
    for day in range(12, 16):
        expected.append((utc(2026, 1, day, 23), utc(2026, 1, day + 1, 15)))
    expected.append((utc(2026, 1, 16, 23), end))
    assert [(g.start, g.end) for g in gaps] == expected


def test_hours_add_up_to_the_window_per_role_when_there_is_no_gap() -> None:
    schedule = Schedule(
        "checkout",
        "Checkout",
        "America/Chicago",
        (weekly("weekly", ("alice", "bob", "carol")), weekly("backup", ("dave", "erin"), role="secondary")),
    )
    # 90 days across the March DST change.
    start = utc(2026, 2, 1, 12, 17, 3)
    end = start + timedelta(days=90)
    report = measure_coverage(schedule, start, end)
    for role in ("primary", "secondary"):
        role_coverage = report.roles[role]  # type: ignore[index]
        assert role_coverage.gaps == ()
        assert role_coverage.covered == end - start
    primary = {p.user: p.on_call for p in report.roles["primary"].people}
    assert set(primary) == {"alice", "bob", "carol"}
    assert report.roles["primary"].spread == max(primary.values()) - min(primary.values())


def test_night_hours_follow_the_local_clock_across_dst() -> None:
    schedule = Schedule("solo", "solo", "America/Chicago", (weekly("solo", ("alice",)),))
    tz = zone("America/Chicago")
    # Mon 2026-03-02 09:00 CST to Mon 2026-03-09 09:00 CDT: the night of Sat 7th loses an hour.
    spring = measure_coverage(schedule, utc(2026, 3, 2, 15), utc(2026, 3, 9, 14)).roles["primary"].people
    assert [(p.user, p.on_call, p.night) for p in spring] == [("alice", 167 * H, 62 * H)]
    # Mon 2026-10-26 09:00 CDT to Mon 2026-11-02 09:00 CST: the night of Sat 31st gains one.
    autumn = measure_coverage(schedule, utc(2026, 10, 26, 14), utc(2026, 11, 2, 15)).roles["primary"].people
    assert [(p.user, p.on_call, p.night) for p in autumn] == [("alice", 169 * H, 64 * H)]
    nights = night_windows(tz, utc(2026, 3, 7, 12), utc(2026, 3, 8, 12))
    assert (utc(2026, 3, 8, 4), utc(2026, 3, 8, 12)) in nights  # 22:00 CST to 07:00 CDT: 8 hours


def test_person_loads_count_roster_members_without_shifts() -> None:
    night = [(utc(2026, 6, 1, 22), utc(2026, 6, 2, 7))]
    shifts = [
        shift("x", utc(2026, 6, 1, 20), utc(2026, 6, 2, 1)),
        shift("y", utc(2026, 6, 2, 1), utc(2026, 6, 2, 3)),
    ]
    loads = person_loads(shifts, night, roster=["y", "z"])
    assert [(p.user, p.on_call, p.night) for p in loads] == [
        ("x", 5 * H, 3 * H),
        ("y", 2 * H, 2 * H),
        ("z", timedelta(0), timedelta(0)),
    ]
