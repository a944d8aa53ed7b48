"""Override kinds in the calculator: remove, replace, swap (docs/schedules.md, "Overrides")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pager.core.durations import ShiftLength
from pager.core.model import IcalLayer, Override, Role, RotationLayer, Schedule
from pager.core.overrides import OverrideError, holds_role_in, shift_containing, swap_overrides
from pager.core.schedule import final_shifts, next_handoff, resolve_on_call

H = timedelta(hours=1)
DAY = timedelta(days=1)
MONDAY = datetime(2026, 6, 1, 9, 0)  # a Monday; daily handoffs at 09:00 UTC


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def daily(name: str, members: tuple[str, ...], role: Role = "primary") -> RotationLayer:
    return RotationLayer(name, members, MONDAY, shift=ShiftLength(1, "d"), role=role)


SCHEDULE = Schedule("ops", "Ops", "UTC", (daily("base", ("ann", "bob", "cat")),))
TWO_LAYERS = Schedule(
    "ops", "Ops", "UTC", (daily("base", ("ann", "bob", "cat")), daily("top", ("dan", "eve")))
)


def remove(user: str, start: datetime, end: datetime, role: Role = "primary") -> Override:
    return Override("ops", role, start, end, user, kind="remove")


def replace(user: str, instead_of: str, start: datetime, end: datetime, role: Role = "primary") -> Override:
    return Override("ops", role, start, end, user, kind="replace", instead_of=instead_of)


def who(schedule: Schedule, at: datetime, *overrides: Override) -> tuple[str | None, str | None]:
    answer = resolve_on_call(schedule, at, overrides)
    return answer.primary, answer.secondary


def test_remove_gives_the_next_member_of_the_rotation_and_derives_secondary_after_them() -> None:
    at = utc(2026, 6, 1, 12)  # ann's day; bob would be secondary
    assert who(SCHEDULE, at) == ("ann", "bob")
    gone = remove("ann", utc(2026, 6, 1, 10), utc(2026, 6, 1, 14))
    answer = resolve_on_call(SCHEDULE, at, [gone])
    assert (answer.primary, answer.secondary) == ("bob", "cat")
    assert answer.primary_source == "override"
    assert who(SCHEDULE, utc(2026, 6, 1, 14), gone) == ("ann", "bob")  # the window is half-open


def test_remove_from_an_upper_layer_falls_to_its_next_member_then_to_lower_layers() -> None:
    at = utc(2026, 6, 1, 12)
    assert who(TWO_LAYERS, at) == ("dan", "eve")
    window = (utc(2026, 6, 1), utc(2026, 6, 2))
    # dan is out of the top layer's rotation, so he is not its derived secondary either.
    assert who(TWO_LAYERS, at, remove("dan", *window)) == ("eve", None)
    # With both of the top layer's members removed, the base layer decides.
    assert who(TWO_LAYERS, at, remove("dan", *window), remove("eve", *window)) == ("ann", "bob")


def test_remove_from_an_ical_layer_leaves_the_lower_layers() -> None:
    ics = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//t//EN",
            "BEGIN:VEVENT",
            "UID:1@t",
            "DTSTAMP:20260101T000000Z",
            "SUMMARY:zed",
            "DTSTART:20260601T000000Z",
            "DTEND:20260602T000000Z",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    schedule = Schedule("ops", "Ops", "UTC", (daily("base", ("ann", "bob")), IcalLayer("cal", ics)))
    at = utc(2026, 6, 1, 12)
    assert who(schedule, at)[0] == "zed"
    assert who(schedule, at, remove("zed", utc(2026, 6, 1), utc(2026, 6, 2)))[0] == "ann"


def test_remove_of_the_only_member_leaves_a_gap_in_final_shifts() -> None:
    schedule = Schedule("ops", "Ops", "UTC", (daily("solo", ("ann",)),))
    gone = remove("ann", utc(2026, 6, 2, 0), utc(2026, 6, 2, 6))
    shifts = final_shifts(schedule, "primary", utc(2026, 6, 1, 12), utc(2026, 6, 2, 12), [gone])
    assert [(s.user, s.start, s.end) for s in shifts] == [
        ("ann", utc(2026, 6, 1, 12), utc(2026, 6, 2, 0)),
        ("ann", utc(2026, 6, 2, 6), utc(2026, 6, 2, 12)),
    ]


def test_remove_also_undoes_an_earlier_add_of_that_person() -> None:
    window = (utc(2026, 6, 1, 10), utc(2026, 6, 1, 14))
    added = Override("ops", "primary", *window, "zed")
    assert who(SCHEDULE, utc(2026, 6, 1, 12), added)[0] == "zed"
    assert who(SCHEDULE, utc(2026, 6, 1, 12), added, remove("zed", *window))[0] == "ann"


def test_replace_acts_only_where_the_replaced_person_holds_the_role() -> None:
    swap_in = replace("zed", "bob", utc(2026, 6, 1), utc(2026, 6, 4))
    shifts = final_shifts(SCHEDULE, "primary", utc(2026, 6, 1, 9), utc(2026, 6, 4, 9), [swap_in])
    assert [(s.user, s.start) for s in shifts] == [
        ("ann", utc(2026, 6, 1, 9)),
        ("zed", utc(2026, 6, 2, 9)),
        ("cat", utc(2026, 6, 3, 9)),
    ]
    # The derived secondary on ann's day is still bob: the replacement is of the primary role.
    assert who(SCHEDULE, utc(2026, 6, 1, 12), swap_in) == ("ann", "bob")
    assert who(SCHEDULE, utc(2026, 6, 2, 12), swap_in) == ("zed", "cat")


def test_replace_of_secondary() -> None:
    swap_in = replace("zed", "bob", utc(2026, 6, 1), utc(2026, 6, 2), role="secondary")
    answer = resolve_on_call(SCHEDULE, utc(2026, 6, 1, 12), [swap_in])
    assert (answer.primary, answer.secondary, answer.secondary_source) == ("ann", "zed", "override")


def test_swap_trades_whole_shifts_and_next_handoff_sees_it() -> None:
    give, take = swap_overrides(SCHEDULE, "primary", "ann", utc(2026, 6, 1, 12), "cat", utc(2026, 6, 3, 20))
    assert (give.kind, give.user, give.instead_of, give.start, give.end) == (
        "replace",
        "cat",
        "ann",
        utc(2026, 6, 1, 9),
        utc(2026, 6, 2, 9),
    )
    assert (take.user, take.instead_of, take.start, take.end) == (
        "ann",
        "cat",
        utc(2026, 6, 3, 9),
        utc(2026, 6, 4, 9),
    )
    shifts = final_shifts(SCHEDULE, "primary", utc(2026, 6, 1, 9), utc(2026, 6, 4, 9), [give, take])
    assert [s.user for s in shifts] == ["cat", "bob", "ann"]
    handoff = next_handoff(SCHEDULE, utc(2026, 6, 1, 12), "primary", [give, take])
    assert handoff is not None and (handoff.from_user, handoff.to_user) == ("cat", "bob")


def test_swap_refuses_instants_outside_the_named_shifts() -> None:
    with pytest.raises(OverrideError, match="'bob' is not primary of 'ops' at 2026-06-01T12:00:00"):
        swap_overrides(SCHEDULE, "primary", "bob", utc(2026, 6, 1, 12), "cat", utc(2026, 6, 3, 12))
    with pytest.raises(OverrideError, match="themselves"):
        swap_overrides(SCHEDULE, "primary", "ann", utc(2026, 6, 1, 12), "ann", utc(2026, 6, 4, 12))


def test_shift_containing_widens_until_the_shift_is_whole() -> None:
    monthly = Schedule(
        "ops", "Ops", "UTC", (RotationLayer("m", ("ann", "bob"), MONDAY, shift=ShiftLength(8, "w")),)
    )
    shift = shift_containing(monthly, "primary", utc(2026, 7, 1))
    assert shift is not None and (shift.user, shift.start, shift.end) == (
        "ann",
        utc(2026, 6, 1, 9),
        utc(2026, 7, 27, 9),
    )


def test_holds_role_in_sees_stored_overrides() -> None:
    window = (utc(2026, 6, 1, 10), utc(2026, 6, 1, 14))
    assert holds_role_in(SCHEDULE, "primary", "ann", *window)
    assert not holds_role_in(SCHEDULE, "primary", "bob", *window)
    assert not holds_role_in(SCHEDULE, "primary", "ann", *window, [remove("ann", *window)])
