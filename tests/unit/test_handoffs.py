"""Handoffs, due messages and their words (pager.core.handoffs, handoff_plan, handoff_text): fixed vectors.

docs/schedules.md, "Handoff messages and shift reminders". The minute-by-minute oracle comparison is
in test_handoffs_property.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pager.core.durations import parse_shift
from pager.core.handoff_plan import Note, Reach, ScheduleNews, compose
from pager.core.handoff_text import HandoffMessage, OpenAlert, handoff_text, reminder_text
from pager.core.handoffs import (
    MAX_CATCH_UP,
    RECHECK,
    DueMessage,
    due_messages,
    handoffs_between,
    shift_end,
)
from pager.core.model import Handoff, Override, Restriction, RotationLayer, Schedule
from pager.core.page_text import gsm7_length

CHICAGO = "America/Chicago"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def daily_0230() -> Schedule:
    """Chicago, daily handoff at 02:30 local: on 2026-03-08 02:30 does not exist (03:30 CDT = 08:30Z)."""
    layer = RotationLayer("daily", ("ann", "bob"), datetime(2026, 3, 1, 2, 30), shift=parse_shift("1d"))
    return Schedule("nights", "Nights", CHICAGO, (layer,))


def weekly() -> Schedule:
    layer = RotationLayer(
        "weekly", ("ann", "bob", "cat"), datetime(2026, 1, 5, 9, 0), shift=parse_shift("1w")
    )
    return Schedule("team", "Team", "UTC", (layer,))


def test_the_0230_handoff_of_a_spring_forward_night_happens_exactly_once_at_0330_cdt() -> None:
    schedule = daily_0230()
    found = handoffs_between(schedule, "primary", utc("2026-03-07T12:00"), utc("2026-03-09T12:00"))
    # 03-08 02:30 CST does not exist: 03:30 CDT (08:30Z); 03-09 02:30 CDT is 07:30Z.
    assert found == [
        Handoff("primary", utc("2026-03-08T08:30"), "ann", "bob"),
        Handoff("primary", utc("2026-03-09T07:30"), "bob", "ann"),
    ]
    # A cursor moving every 10 minutes across that night still sees it exactly once.
    after, seen = utc("2026-03-08T06:00"), []
    while after < utc("2026-03-08T11:00"):
        seen += handoffs_between(schedule, "primary", after, after + timedelta(minutes=10))
        after += timedelta(minutes=10)
    assert seen == [Handoff("primary", utc("2026-03-08T08:30"), "ann", "bob")]
    # And as the job sees it, checking every 5 minutes (re-checking behind its cursor): one key.
    cursor, keys = utc("2026-03-08T06:00"), []
    while cursor < utc("2026-03-08T11:00"):
        plan = due_messages(schedule, (), cursor, cursor + timedelta(minutes=5), {})
        keys += [m.key for m in plan.due if m.role == "primary"]
        cursor = plan.checked_until
    assert set(keys) == {"handoff:nights:primary:2026-03-08T08:30:00.000000Z:bob"}


def test_a_handoff_at_the_window_end_belongs_to_it_and_not_to_the_next_window() -> None:
    schedule, at = weekly(), utc("2026-01-12T09:00")
    assert handoffs_between(schedule, "primary", at - timedelta(seconds=5), at) == [
        Handoff("primary", at, "ann", "bob")
    ]
    assert handoffs_between(schedule, "primary", at, at + timedelta(seconds=5)) == []


def test_overrides_make_handoffs_and_a_gap_is_a_handoff_to_nobody() -> None:
    schedule = weekly()
    add = Override("team", "primary", utc("2026-01-07T10:00"), utc("2026-01-07T18:00"), "dan")
    found = handoffs_between(schedule, "primary", utc("2026-01-07T00:00"), utc("2026-01-08T00:00"), [add])
    assert found == [
        Handoff("primary", utc("2026-01-07T10:00"), "ann", "dan"),
        Handoff("primary", utc("2026-01-07T18:00"), "dan", "ann"),
    ]
    business = RotationLayer(
        "day",
        ("eve",),
        datetime(2026, 1, 5, 9, 0),
        shift=parse_shift("1w"),
        restrictions=(
            Restriction(
                frozenset({0, 1, 2, 3, 4}), datetime(1, 1, 1, 9).time(), datetime(1, 1, 1, 17).time()
            ),
        ),
    )
    restricted = Schedule("day", "Day", "UTC", (business,))
    found = handoffs_between(restricted, "primary", utc("2026-01-07T00:00"), utc("2026-01-08T00:00"))
    assert found == [
        Handoff("primary", utc("2026-01-07T09:00"), None, "eve"),
        Handoff("primary", utc("2026-01-07T17:00"), "eve", None),
    ]


def test_layers_later_win_and_the_derived_secondary_changes_hands_with_the_primary() -> None:
    base = RotationLayer("weekly", ("ann", "bob", "cat"), datetime(2026, 1, 5, 9, 0), shift=parse_shift("1w"))
    top = RotationLayer(
        "weekend",
        ("zed",),
        datetime(2026, 1, 10, 0, 0),
        shift=parse_shift("1w"),
        restrictions=(Restriction(frozenset({5}), datetime(1, 1, 1, 0).time(), datetime(1, 1, 1, 0).time()),),
    )
    schedule = Schedule("team", "Team", "UTC", (base, top))
    window = (utc("2026-01-09T00:00"), utc("2026-01-13T00:00"))
    assert handoffs_between(schedule, "primary", *window) == [
        Handoff("primary", utc("2026-01-10T00:00"), "ann", "zed"),
        Handoff("primary", utc("2026-01-11T00:00"), "zed", "ann"),
        Handoff("primary", utc("2026-01-12T09:00"), "ann", "bob"),
    ]
    assert handoffs_between(schedule, "secondary", *window) == [
        Handoff("secondary", utc("2026-01-10T00:00"), "bob", None),  # zed's one-member layer: none
        Handoff("secondary", utc("2026-01-11T00:00"), None, "bob"),
        Handoff("secondary", utc("2026-01-12T09:00"), "bob", "cat"),
    ]


def test_shift_end_is_where_the_incoming_persons_final_shift_ends() -> None:
    schedule = weekly()
    assert shift_end(schedule, "primary", "bob", utc("2026-01-12T09:00")) == utc("2026-01-19T09:00")
    early = Override("team", "primary", utc("2026-01-15T00:00"), utc("2026-01-16T00:00"), "dan")
    assert shift_end(schedule, "primary", "bob", utc("2026-01-12T09:00"), [early]) == utc("2026-01-15T00:00")
    forever = Schedule(
        "one", "One", "UTC", (RotationLayer("solo", ("ann",), datetime(2026, 1, 1), shift=parse_shift("1w")),)
    )
    override = Override("one", "primary", utc("2026-01-07T00:00"), utc("2026-01-08T00:00"), "bob")
    assert shift_end(forever, "primary", "ann", utc("2026-01-08T00:00"), [override]) is None


AT = utc("2026-01-12T09:00")  # ann hands the weekly rotation to bob


def test_a_never_checked_schedule_starts_at_now_and_sends_nothing_from_before() -> None:
    plan = due_messages(weekly(), (), None, AT + timedelta(seconds=3), {})
    assert plan.due == () and plan.checked_until == AT + timedelta(seconds=3)


def test_a_handoff_is_due_once_from_the_run_after_its_instant_even_late() -> None:
    schedule = weekly()
    before = due_messages(schedule, (), AT - timedelta(seconds=10), AT - timedelta(seconds=1), {})
    assert before.due == () and before.checked_until == AT - timedelta(seconds=1)
    late = due_messages(schedule, (), before.checked_until, AT + timedelta(hours=3), {})
    assert late.due == (
        DueMessage("handoff", "team", "primary", "bob", AT, utc("2026-01-19T09:00"), "ann"),
        DueMessage("handoff", "team", "secondary", "cat", AT, utc("2026-01-19T09:00"), "bob"),
    )
    again = due_messages(schedule, (), late.checked_until, AT + timedelta(hours=3, seconds=5), {})
    assert again.due == ()
    assert late.due[0].key == "handoff:team:primary:2026-01-12T09:00:00.000000Z:bob"


def test_a_handoff_whose_shift_is_over_is_skipped_and_catch_up_is_bounded() -> None:
    schedule = Schedule(
        "hourly",
        "Hourly",
        "UTC",
        (RotationLayer("h", ("ann", "bob"), datetime(2026, 1, 1), shift=parse_shift("1h")),),
    )
    now = utc("2026-01-10T12:30")
    plan = due_messages(schedule, (), utc("2026-01-10T09:59"), now, {})
    assert [(m.shift_start, m.role, m.user) for m in plan.due] == [
        (utc("2026-01-10T12:00"), "primary", "ann"),
        (utc("2026-01-10T12:00"), "secondary", "bob"),
    ]
    assert sorted({m.shift_start for m in plan.skipped}) == [utc(f"2026-01-10T{h}:00") for h in (10, 11)]
    down_for_days = due_messages(
        weekly(), (), AT - timedelta(days=5), AT + MAX_CATCH_UP + timedelta(hours=1), {}
    )
    assert down_for_days.due == ()  # the handoff is further back than MAX_CATCH_UP
    assert down_for_days.checked_until == AT + MAX_CATCH_UP + timedelta(hours=1)


def test_a_check_looks_again_recheck_before_its_cursor_for_overrides_stored_late() -> None:
    schedule = weekly()
    now = utc("2026-01-14T10:05")
    # Stored at 10:05 with a start of 10:00 (typed "from now", a few minutes late): dan is told.
    late = Override("team", "primary", utc("2026-01-14T10:00"), utc("2026-01-14T18:00"), "dan")
    plan = due_messages(schedule, [late], now - timedelta(seconds=5), now, {})
    assert [(m.user, m.shift_start) for m in plan.due] == [("dan", utc("2026-01-14T10:00"))]
    # The same handoff is listed again by the next checks within RECHECK (the caller drops it by
    # its key), and no longer after that.
    assert due_messages(schedule, [late], now, now + timedelta(seconds=5), {}).due == plan.due
    assert due_messages(schedule, [late], now + RECHECK, now + RECHECK + timedelta(seconds=5), {}).due == ()
    # Nor before the schedule's first check: what happened before pager looked is never sent.
    assert due_messages(schedule, [late], now - timedelta(seconds=5), now, {}, checked_since=now).due == ()


def test_the_cursor_never_moves_backwards() -> None:
    assert due_messages(weekly(), (), AT, AT - timedelta(seconds=30), {}).checked_until == AT


def test_a_reminder_is_due_remind_before_ahead_once_and_not_after_the_shift_started() -> None:
    schedule, hour, second = weekly(), timedelta(hours=1), timedelta(seconds=1)
    remind = {"bob": hour}
    early = due_messages(schedule, (), AT - 2 * hour, AT - hour - timedelta(seconds=1), remind)
    assert early.due == ()
    due = due_messages(schedule, (), early.checked_until, AT - hour + timedelta(seconds=4), remind)
    assert due.due == (
        DueMessage("reminder", "team", "primary", "bob", AT, utc("2026-01-19T09:00"), "ann", AT - hour),
    )
    assert due.due[0].falls_due == AT - hour
    assert due.due[0].key.startswith("reminder:team:primary:")
    assert (
        due_messages(schedule, (), due.checked_until, AT - hour + 9 * second, remind).due == due.due
    )  # RECHECK
    past_recheck = AT - hour + RECHECK + timedelta(seconds=5)
    assert due_messages(schedule, (), past_recheck, AT - timedelta(minutes=30), remind).due == ()
    # Down from before the reminder until after the shift started: the handoff message only.
    late = due_messages(schedule, (), AT - 2 * hour, AT + timedelta(seconds=2), remind)
    assert [m.kind for m in late.due] == ["handoff", "handoff"]


def message(**changes: object) -> HandoffMessage:
    fields: dict[str, object] = {
        "schedule_id": "checkout",
        "schedule_name": "Checkout",
        "time_zone": CHICAGO,
        "role": "primary",
        "incoming": "bob",
        "outgoing": "ann",
        "starts_at": utc("2026-03-08T08:30"),
        "ends_at": utc("2026-03-15T07:30"),
    }
    return HandoffMessage(**(fields | changes))  # type: ignore[arg-type]


def test_the_words_name_schedule_role_shift_end_alerts_and_note_and_no_incidents_yet() -> None:
    alerts = (OpenAlert(42, "checkout-api", "High error rate"), OpenAlert(43, "db", "Disk full"))
    text = handoff_text("sms", message(open_alert_count=5, open_alerts=alerts, note="Failover Tue 🙂"))
    assert text.body == (
        "You are now primary on call for Checkout (checkout) until Sun Mar 15 02:30 CDT (07:30Z). "
        "Taking over from ann. 5 open alert(s): #42 checkout-api: High error rate; #43 db: Disk full; "
        "and 3 more. Note from ann: Failover Tue ?"
    )
    assert "incident" not in text.body.lower()
    quiet = handoff_text("email", message(outgoing=None, open_incidents=()))
    assert quiet.subject == "[pager] On call: Checkout primary until Sun Mar 15 02:30 CDT (07:30Z)"
    assert "No open alerts." in quiet.body and "No open incidents." in quiet.body
    assert "Pager handoff." in handoff_text("voice", message(open_alert_count=1, open_alerts=alerts[:1])).body
    long = handoff_text("sms", message(note="x " * 400))
    assert gsm7_length(long.body) <= 306 and long.body.endswith("...")
    reminder = reminder_text("sms", message())
    assert reminder.body.startswith(
        "Reminder: your primary on-call shift for Checkout (checkout) starts Sun Mar 08 03:30 CDT"
    )


def test_compose_puts_a_note_in_the_first_handoff_after_it_was_written_and_uses_it_once() -> None:
    schedule = weekly()
    first = DueMessage("handoff", "team", "primary", "bob", AT, None, "ann")
    second = DueMessage("handoff", "team", "primary", "cat", AT + timedelta(days=7), None, "bob")
    secondary = DueMessage("handoff", "team", "secondary", "cat", AT, None, "bob")
    reach = {"bob": Reach(2, "sms", "+15550000002"), "cat": Reach(3, "email", "cat@example.com")}
    note = Note(7, "watch the queue", AT - timedelta(hours=1))
    plan = compose(schedule, [first, secondary, second], reach, ScheduleNews(notes={"primary": note}))
    assert [("watch the queue" in m.body) for m in plan.messages] == [True, False, False]
    assert plan.notes_sent == (7,)
    assert plan.messages[1].subject.startswith("[pager] On call: Team secondary")
    written_after = Note(8, "later", AT + timedelta(hours=1))
    plan = compose(schedule, [first, second], reach, ScheduleNews(notes={"primary": written_after}))
    assert [("later" in m.body) for m in plan.messages] == [False, True]
    nobody = compose(schedule, [first], {"bob": None}, ScheduleNews(notes={"primary": note}))
    assert nobody.messages == () and nobody.unreachable == (first,) and nobody.notes_sent == ()
