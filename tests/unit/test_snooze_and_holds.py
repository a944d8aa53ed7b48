"""Snooze and maintenance holds in the pure state machine, and the maintenance windows' arithmetic.

The rules are in docs/escalation.md, "Maintenance windows and snooze".
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from pager.core.escalation import (
    Ack,
    CancelPendingNotifications,
    DecisionInputs,
    Escalate,
    HoldEnded,
    Resolve,
    Snooze,
    Timer,
    Trigger,
    decide,
    needs_hold,
)
from pager.core.maintenance import AdHocWindow, Hold, RecurringWindow, hold_at, overlapping
from pager.core.model import Restriction
from tests.unit.test_escalation import ACKED, EVERYONE, MIN, POLICY, RESOLVED, T0, alert, roster

HOUR = timedelta(hours=1)
WINDOW = Hold("maintenance window 3 (db upgrade)", T0 + HOUR, 3)


def held(inputs: DecisionInputs, hold: Hold | None = WINDOW) -> DecisionInputs:
    return replace(inputs, hold=hold)


# -- snooze ----------------------------------------------------------------------------------------------


def test_snooze_acknowledges_now_and_pages_from_level_one_when_it_ends() -> None:
    paging = alert(level=2, escalate_at=T0 + 10 * MIN)
    snoozed = decide(POLICY, paging, Snooze(30 * MIN, "bob"), T0 + 2 * MIN, roster(EVERYONE))
    state = snoozed.state
    assert (state.status, state.acknowledged_by, state.acknowledged_at) == (
        "acknowledged",
        "bob",
        T0 + 2 * MIN,
    )
    assert state.escalate_at is None and state.retrigger_at == state.snoozed_until == T0 + 32 * MIN
    assert snoozed.next_wakeup == T0 + 32 * MIN and not snoozed.notifications
    assert CancelPendingNotifications("acknowledged") in snoozed.commands
    [line] = snoozed.timeline
    assert line.kind == "snoozed" and line.actor == "bob"
    assert line.message == (
        "snoozed by bob for 30m, until 2026-03-08T09:02:00+00:00; "
        "paging restarts from level 1 then unless resolved"
    )

    early = decide(POLICY, state, Timer(), T0 + 31 * MIN, roster(EVERYONE))
    assert early.outcome == "ignored" and early.state == state

    ended = decide(POLICY, state, Timer(), T0 + 32 * MIN, roster(EVERYONE))
    after = ended.state
    assert (after.status, after.level, after.loop, after.cycle) == ("triggered", 1, 1, 2)
    assert after.snoozed_until is None and after.acknowledged_by is None
    assert [n.user for n in ended.notifications] == ["alice"]
    assert [entry.kind for entry in ended.timeline] == ["snooze_ended", "level_paged"]
    assert ended.timeline[0].message == "snooze by bob ended; not resolved, so paging restarted from level 1"


def test_snooze_of_an_acknowledged_alert_moves_the_end_and_wins_over_the_ack_timeout() -> None:
    snoozed = decide(POLICY, ACKED, Snooze(2 * HOUR, "carol"), T0 + 5 * MIN, roster(EVERYONE))
    assert snoozed.state.retrigger_at == T0 + 5 * MIN + 2 * HOUR  # not the ack timeout's T0 + 32m
    assert snoozed.state.acknowledged_by == "carol"
    assert not any(isinstance(c, CancelPendingNotifications) for c in snoozed.commands)


def test_a_snoozed_alert_resolved_meanwhile_is_never_paged_again() -> None:
    state = decide(POLICY, alert(), Snooze(30 * MIN, "bob"), T0, roster(EVERYONE)).state
    resolved = decide(POLICY, state, Resolve("bob"), T0 + 10 * MIN, roster(EVERYONE)).state
    assert resolved.status == "resolved" and resolved.next_action_at is None
    assert resolved.snoozed_until is None
    late = decide(POLICY, resolved, Timer(), T0 + 30 * MIN, roster(EVERYONE))
    assert late.outcome == "ignored" and not late.notifications


def test_snooze_of_a_resolved_alert_changes_nothing() -> None:
    decision = decide(POLICY, RESOLVED, Snooze(30 * MIN, "bob"), T0 + 5 * MIN, roster(EVERYONE))
    assert decision.outcome == "already_resolved" and decision.state == RESOLVED
    assert [entry.kind for entry in decision.timeline] == ["ignored"]


def test_an_ack_during_a_snooze_is_a_second_ack() -> None:
    state = decide(POLICY, alert(), Snooze(30 * MIN, "bob"), T0, roster(EVERYONE)).state
    again = decide(POLICY, state, Ack("alice"), T0 + MIN, roster(EVERYONE))
    assert again.outcome == "already_acknowledged" and again.state.snoozed_until == T0 + 30 * MIN


def test_escalate_during_a_snooze_ends_it() -> None:
    state = decide(POLICY, alert(), Snooze(30 * MIN, "bob"), T0, roster(EVERYONE)).state
    escalated = decide(POLICY, state, Escalate("bob"), T0 + MIN, roster(EVERYONE)).state
    assert escalated.status == "triggered" and escalated.snoozed_until is None and escalated.level == 2


def test_a_snooze_must_last() -> None:
    with pytest.raises(ValueError, match="positive"):
        decide(POLICY, alert(), Snooze(timedelta(0), "bob"), T0, roster(EVERYONE))


# -- maintenance holds -------------------------------------------------------------------------------------


def test_a_new_alert_under_a_hold_is_suppressed_and_pages_nobody() -> None:
    decision = decide(POLICY, None, Trigger(), T0, held(roster(EVERYONE)))
    state = decision.state
    assert state.status == "suppressed" and not decision.notifications
    assert (state.held_until, state.held_by, state.held_window) == (T0 + HOUR, WINDOW.name, 3)
    assert decision.next_wakeup == T0 + HOUR
    assert [entry.message for entry in decision.timeline] == [
        "triggered",
        "maintenance window 3 (db upgrade) holds this service until 2026-03-08T09:30:00+00:00: "
        "suppressed, nobody paged",
    ]


def test_the_hold_ends_at_its_instant_and_paging_starts_at_level_one() -> None:
    state = decide(POLICY, None, Trigger(), T0, held(roster(EVERYONE))).state
    repeat = decide(POLICY, state, Trigger(), T0 + 10 * MIN, held(roster(EVERYONE)))
    assert repeat.state.status == "suppressed" and not repeat.notifications
    assert decide(POLICY, state, Timer(), T0 + 59 * MIN, held(roster(EVERYONE))).outcome == "ignored"
    ended = decide(POLICY, state, Timer(), T0 + HOUR, roster(EVERYONE))
    assert ended.state.status == "triggered" and ended.state.held_until is None
    assert [n.user for n in ended.notifications] == ["alice"]
    assert ended.timeline[0].kind == "hold_ended"
    assert ended.timeline[0].message == "maintenance window 3 (db upgrade) ended; paging starts at level 1"
    assert ended.state.escalate_at == T0 + HOUR + 5 * MIN


def test_a_hold_ended_early_pages_at_once_and_says_who_ended_it() -> None:
    state = decide(POLICY, None, Trigger(), T0, held(roster(EVERYONE))).state
    ended = decide(POLICY, state, HoldEnded("erin"), T0 + 5 * MIN, roster(EVERYONE))
    assert [n.user for n in ended.notifications] == ["alice"]
    assert (
        ended.timeline[0].message
        == "maintenance window 3 (db upgrade) ended early by erin; paging starts at level 1"
    )
    # An early end that reaches an alert no longer held changes nothing.
    again = decide(POLICY, ended.state, HoldEnded("erin"), T0 + 6 * MIN, roster(EVERYONE))
    assert again.outcome == "ignored" and again.state == ended.state and not again.commands


def test_a_window_still_holding_at_the_end_keeps_the_alert_suppressed() -> None:
    state = decide(POLICY, None, Trigger(), T0, held(roster(EVERYONE))).state
    recurring = Hold("recurring maintenance sun 02:00-04:00 Europe/Berlin", T0 + 2 * HOUR)
    kept = decide(POLICY, state, Timer(), T0 + HOUR, held(roster(EVERYONE), recurring))
    assert kept.state.status == "suppressed" and not kept.notifications
    assert (kept.state.held_until, kept.state.held_window) == (T0 + 2 * HOUR, None)
    assert kept.timeline[0].message.startswith(
        "maintenance window 3 (db upgrade) ended; still held by recurring"
    )


def test_resolve_ack_and_escalate_end_a_hold() -> None:
    state = decide(POLICY, None, Trigger(), T0, held(roster(EVERYONE))).state
    resolved = decide(POLICY, state, Resolve(None), T0 + MIN, roster(EVERYONE))
    assert resolved.state.status == "resolved" and resolved.state.next_action_at is None
    assert not resolved.notifications
    acked = decide(POLICY, state, Ack("bob"), T0 + MIN, roster(EVERYONE)).state
    assert acked.status == "acknowledged" and acked.held_until is None
    escalated = decide(POLICY, state, Escalate("bob"), T0 + MIN, roster(EVERYONE))
    assert escalated.state.status == "triggered" and [n.user for n in escalated.notifications] == ["alice"]


def test_a_hold_that_already_ended_does_not_suppress_and_only_openings_and_releases_read_it() -> None:
    decision = decide(POLICY, None, Trigger(), T0, held(roster(EVERYONE), Hold("w", T0)))
    assert decision.state.status == "triggered"
    assert needs_hold(None, Trigger())
    assert not needs_hold(alert(), Timer()) and not needs_hold(ACKED, HoldEnded())


# -- windows ----------------------------------------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
SUNDAY_NIGHT = RecurringWindow(Restriction(frozenset({6}), time(2, 0), time(4, 0)), BERLIN)


def test_a_recurring_window_follows_its_zone_across_a_dst_change() -> None:
    # 2026-03-29 is the spring-forward Sunday in Berlin: 02:00 local does not exist, 03:00 is CEST.
    before = datetime(2026, 3, 22, 1, 30, tzinfo=UTC)  # 02:30 CET
    after = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert hold_at(before, [], [SUNDAY_NIGHT]) == Hold(
        SUNDAY_NIGHT.describe(), datetime(2026, 3, 22, 3, tzinfo=UTC)
    )
    assert hold_at(after, [], [SUNDAY_NIGHT]) == Hold(
        SUNDAY_NIGHT.describe(), datetime(2026, 3, 29, 2, tzinfo=UTC)
    )
    assert hold_at(datetime(2026, 3, 29, 2, tzinfo=UTC), [], [SUNDAY_NIGHT]) is None
    assert SUNDAY_NIGHT.describe() == "recurring maintenance sun 02:00-04:00 Europe/Berlin"


def test_touching_windows_are_one_hold_named_after_the_window_holding_the_instant() -> None:
    first = AdHocWindow(1, T0, T0 + HOUR, "deploy")
    second = AdHocWindow(2, T0 + HOUR, T0 + 3 * HOUR)
    assert hold_at(T0 + MIN, [first, second], []) == Hold("maintenance window 1 (deploy)", T0 + 3 * HOUR, 1)
    assert hold_at(T0 + 3 * HOUR, [first, second], []) is None
    assert hold_at(T0 - MIN, [first], []) is None
    assert overlapping(T0 + 30 * MIN, T0 + 2 * HOUR, [first]) == first
    assert overlapping(T0 + HOUR, T0 + 2 * HOUR, [first]) is None


def test_an_early_end_of_a_window_that_did_not_hold_the_alert_changes_nothing() -> None:
    state = decide(POLICY, None, Trigger(), T0, held(roster(EVERYONE))).state
    other = decide(POLICY, state, HoldEnded("erin", "maintenance window 9"), T0 + MIN, held(roster(EVERYONE)))
    assert other.outcome == "ignored" and other.state == state and not other.commands
