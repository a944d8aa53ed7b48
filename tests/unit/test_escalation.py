"""The escalation state machine: a table of state × event, then scenarios on a fake clock.

The rules are in docs/escalation.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pager.core.escalation import (
    NO_ONE_RETRY,
    Ack,
    AlertState,
    CancelPendingNotifications,
    Decision,
    DecisionInputs,
    DeliveryFailed,
    Escalate,
    Event,
    HoldEnded,
    NotificationStep,
    PagedLevel,
    Resolve,
    Snooze,
    Timer,
    Trigger,
    decide,
    format_duration,
    needs_hold,
    needs_on_call,
)
from pager.core.maintenance import Hold
from pager.core.policy import (
    DEFAULT_RULES,
    EscalationPolicy,
    Level,
    NotificationRule,
    PolicyError,
    Target,
    parse_target,
)

T0 = datetime(2026, 3, 8, 8, 30, tzinfo=UTC)
MIN = timedelta(minutes=1)

L1, L2, L3 = "schedule:checkout", "schedule:checkout/secondary", "user:dana,user:erin"
POLICY = EscalationPolicy(
    id="checkout-critical",
    name="Checkout critical",
    levels=(
        Level((parse_target("schedule:checkout"),), 5 * MIN),
        Level((parse_target("schedule:checkout/secondary"),), 10 * MIN),
        Level((parse_target("user:dana"), parse_target("user:erin")), 15 * MIN),
    ),
    repeat=1,
    ack_timeout=30 * MIN,
    auto_resolve=timedelta(hours=4),
)
PLAIN = replace(POLICY, ack_timeout=timedelta(0), auto_resolve=None)  # no ack timeout, no auto-resolve

EVERYONE = {L1: ["alice"], L2: ["bob"], L3: ["dana", "erin"]}
NOBODY: dict[str, list[str]] = {L1: [], L2: [], L3: []}


def roster(
    on_call: Mapping[str, Sequence[str]], rules: Mapping[str, Sequence[NotificationRule]] | None = None
) -> DecisionInputs:
    """Decision inputs from a level's targets (joined as in L3) -> the handles given for that level.

    A level of several targets gets its handles on its first target and none on the others: the
    decision joins a level's targets' handles, so it sees the level's list as given.
    """
    by_target: dict[Target, tuple[str, ...]] = {}
    for joined, handles in on_call.items():
        first, *rest = (parse_target(text) for text in joined.split(","))
        by_target[first] = tuple(handles)
        by_target.update((target, ()) for target in rest)
    return DecisionInputs(by_target, {user: tuple(steps) for user, steps in (rules or {}).items()})


def alert(**changes: Any) -> AlertState:
    """A triggered alert paging level 1 of loop 1 since T0 (what a fresh trigger at T0 leaves)."""
    base = AlertState(
        status="triggered",
        stage="paging",
        cycle=1,
        loop=1,
        level=1,
        triggered_at=T0,
        last_event_at=T0,
        escalate_at=T0 + 5 * MIN,
        auto_resolve_at=T0 + timedelta(hours=4),
        pages=(PagedLevel(1, 1, T0, ("alice",)),),
    )
    return replace(base, **changes)


def at_level(level: int, loop: int, since: datetime, **changes: Any) -> AlertState:
    after = {1: 5, 2: 10, 3: 15}[level] * MIN
    return alert(level=level, loop=loop, escalate_at=since + after, **changes)


ACKED = alert(
    status="acknowledged",
    acknowledged_at=T0 + 2 * MIN,
    acknowledged_by="alice",
    escalate_at=None,
    retrigger_at=T0 + 32 * MIN,
    last_event_at=T0 + 2 * MIN,
    auto_resolve_at=T0 + 2 * MIN + timedelta(hours=4),
)
RESOLVED = alert(
    status="resolved",
    resolved_at=T0 + 3 * MIN,
    resolved_by="alice",
    escalate_at=None,
    auto_resolve_at=None,
    last_event_at=T0 + 3 * MIN,
)
NO_ONE = alert(stage="no_one_on_call", escalate_at=T0 + MIN, pages=())
EXHAUSTED = alert(stage="exhausted", level=3, loop=2, escalate_at=None)


@dataclass
class Case:
    id: str
    state: AlertState | None
    event: Event
    now: datetime
    on_call: Mapping[str, Sequence[str]] = field(default_factory=lambda: EVERYONE)
    policy: EscalationPolicy = POLICY
    expect: dict[str, Any] = field(default_factory=dict)  # AlertState fields after the decision
    kinds: tuple[str, ...] = ()  # timeline entry kinds, in order
    paged: tuple[str, ...] = ()  # users in Notify commands, in order
    cancels: tuple[str, ...] = ()
    outcome: str = "applied"
    wakeup: datetime | None = field(kw_only=True)  # every case states its next wake-up


SEC = timedelta(seconds=1)
T5, T10, T15, H4 = T0 + 5 * MIN, T0 + 10 * MIN, T0 + 15 * MIN, T0 + timedelta(hours=4)
CASES = [
    # -- a new alert
    Case("new: level 1 paged", None, Trigger(), T0,
         kinds=("triggered", "level_paged"), paged=("alice",),
         expect={"status": "triggered", "stage": "paging", "level": 1, "loop": 1, "cycle": 1},
         wakeup=T5),
    Case("new: empty level 1 skipped at once", None, Trigger(), T0, on_call={**EVERYONE, L1: []},
         kinds=("triggered", "level_skipped", "level_paged"), paged=("bob",),
         expect={"level": 2}, wakeup=T10),
    Case("new: two empty levels skipped at once", None, Trigger(), T0,
         on_call={**NOBODY, L3: ["dana", "erin"]},
         kinds=("triggered", "level_skipped", "level_skipped", "level_paged"), paged=("dana", "erin"),
         expect={"level": 3, "escalate_at": T15}, wakeup=T15),
    Case("new: nobody at all -> stays triggered, retry in a minute", None, Trigger(), T0, on_call=NOBODY,
         kinds=("triggered", "level_skipped", "level_skipped", "level_skipped", "no_one_on_call"),
         expect={"status": "triggered", "stage": "no_one_on_call", "level": 1, "loop": 1},
         wakeup=T0 + MIN),
    Case("new: duplicate handles paged once", None, Trigger(), T0,
         on_call={**EVERYONE, L1: ["alice", "alice", ""]},
         kinds=("triggered", "level_paged"), paged=("alice",), wakeup=T5),
    # -- nobody on call: retried every minute from level 1, loop unchanged
    Case("no one: retry still nobody is quiet", NO_ONE, Timer(), T0 + MIN, on_call=NOBODY,
         expect={"stage": "no_one_on_call", "loop": 1, "level": 1}, wakeup=T0 + 2 * MIN),
    Case("no one: retry finds level 2", NO_ONE, Timer(), T0 + MIN, on_call={**EVERYONE, L1: []},
         kinds=("level_skipped", "level_paged"), paged=("bob",),
         expect={"stage": "paging", "level": 2}, wakeup=T0 + 11 * MIN),
    Case("no one in loop 2: retry keeps loop 2", replace(NO_ONE, loop=2), Timer(), T0 + MIN,
         kinds=("level_paged",), paged=("alice",), expect={"loop": 2, "level": 1}, wakeup=T0 + 6 * MIN),
    # -- escalate_after elapsed
    Case("timer: level 1 -> level 2", alert(), Timer(), T5,
         kinds=("level_paged",), paged=("bob",),
         expect={"level": 2, "loop": 1, "escalate_at": T5 + 10 * MIN}, wakeup=T5 + 10 * MIN),
    Case("timer: early tick changes nothing", alert(), Timer(), T5 - SEC, outcome="ignored",
         expect={"level": 1, "escalate_at": T5}, wakeup=T5),
    Case("timer: late tick pages the next level now, full escalate_after", alert(), Timer(), T0 + 40 * MIN,
         kinds=("level_paged",), paged=("bob",), expect={"level": 2}, wakeup=T0 + 50 * MIN),
    Case("timer: level 2 -> level 3, both users", at_level(2, 1, T5), Timer(), T15,
         kinds=("level_paged",), paged=("dana", "erin"), expect={"level": 3}, wakeup=T15 + 15 * MIN),
    Case("timer: last level -> next loop", at_level(3, 1, T0), Timer(), T15,
         kinds=("level_paged",), paged=("alice",),
         expect={"level": 1, "loop": 2, "cycle": 1}, wakeup=T15 + 5 * MIN),
    Case("timer: last level of last loop -> exhausted, stays triggered", at_level(3, 2, T0), Timer(), T15,
         kinds=("exhausted",),
         expect={"status": "triggered", "stage": "exhausted", "escalate_at": None, "level": 3, "loop": 2},
         wakeup=H4),
    Case("timer: exhausted without auto-resolve has no wake-up", at_level(3, 2, T0), Timer(), T15,
         policy=PLAIN, kinds=("exhausted",), expect={"stage": "exhausted"}, wakeup=None),
    Case("timer: empty last level skipped into next loop", at_level(2, 1, T0), Timer(), T10,
         on_call={**EVERYONE, L3: []}, kinds=("level_skipped", "level_paged"), paged=("alice",),
         expect={"level": 1, "loop": 2}, wakeup=T15),
    Case("timer: empty last level of last loop -> exhausted", at_level(2, 2, T0), Timer(), T10,
         on_call={**EVERYONE, L3: []}, kinds=("level_skipped", "exhausted"),
         expect={"stage": "exhausted"}, wakeup=H4),
    Case("timer: rest of ladder and next loop empty -> no one on call in loop 2", alert(), Timer(), T5,
         on_call=NOBODY, kinds=("level_skipped",) * 5 + ("no_one_on_call",),
         expect={"stage": "no_one_on_call", "loop": 2, "level": 1}, wakeup=T5 + MIN),
    Case("timer: repeat 0 exhausts after one pass", at_level(3, 1, T0), Timer(), T15,
         policy=replace(POLICY, repeat=0), kinds=("exhausted",),
         expect={"stage": "exhausted", "loop": 1}, wakeup=H4),
    Case("timer: exhausted with nothing due", EXHAUSTED, Timer(), T0 + timedelta(hours=1),
         outcome="ignored", wakeup=H4),
    # -- ack
    Case("ack: stops escalation, rule steps cancelled, ack timeout armed", alert(), Ack("alice"),
         T0 + 2 * MIN, kinds=("acknowledged",), cancels=("acknowledged",),
         expect={"status": "acknowledged", "acknowledged_by": "alice", "acknowledged_at": T0 + 2 * MIN,
                 "escalate_at": None, "retrigger_at": T0 + 32 * MIN, "last_event_at": T0 + 2 * MIN},
         wakeup=T0 + 32 * MIN),
    Case("ack: ack_timeout 0 never re-triggers", alert(), Ack("alice"), T0 + 2 * MIN, policy=PLAIN,
         kinds=("acknowledged",), cancels=("acknowledged",), expect={"retrigger_at": None}, wakeup=None),
    Case("ack: while no one is on call", NO_ONE, Ack("bob"), T0 + 30 * SEC,
         kinds=("acknowledged",), cancels=("acknowledged",),
         expect={"status": "acknowledged", "escalate_at": None}, wakeup=T0 + 30 * SEC + 30 * MIN),
    Case("ack: by an integration event", alert(), Ack(), T0 + MIN,
         kinds=("acknowledged",), cancels=("acknowledged",),
         expect={"acknowledged_by": None, "status": "acknowledged"}, wakeup=T0 + 31 * MIN),
    Case("ack: second ack changes nothing", ACKED, Ack("bob"), T0 + 3 * MIN,
         kinds=("ignored",), outcome="already_acknowledged",
         expect={"acknowledged_by": "alice", "acknowledged_at": T0 + 2 * MIN, "last_event_at": T0 + 2 * MIN},
         wakeup=T0 + 32 * MIN),
    Case("ack: timer before ack timeout changes nothing", ACKED, Timer(), T0 + 20 * MIN, outcome="ignored",
         expect={"status": "acknowledged"}, wakeup=T0 + 32 * MIN),
    Case("ack timeout: re-triggered from level 1, loop 1, new cycle", replace(ACKED, level=3, loop=2),
         Timer(), T0 + 32 * MIN, kinds=("retriggered", "level_paged"), paged=("alice",),
         expect={"status": "triggered", "level": 1, "loop": 1, "cycle": 2, "acknowledged_by": None,
                 "acknowledged_at": None, "retrigger_at": None,
                 "pages": (PagedLevel(1, 1, T0 + 32 * MIN, ("alice",)),)},
         wakeup=T0 + 37 * MIN),
    Case("ack timeout: re-trigger skips an empty level 1", ACKED, Timer(), T0 + 32 * MIN,
         on_call={**EVERYONE, L1: []}, kinds=("retriggered", "level_skipped", "level_paged"), paged=("bob",),
         expect={"level": 2, "cycle": 2}, wakeup=T0 + 42 * MIN),
    # -- resolve is final
    Case("resolve: from triggered", alert(), Resolve("alice"), T0 + MIN,
         kinds=("resolved",), cancels=("resolved",),
         expect={"status": "resolved", "resolved_by": "alice", "resolved_at": T0 + MIN, "escalate_at": None,
                 "auto_resolve_at": None}, wakeup=None),
    Case("resolve: from acknowledged", ACKED, Resolve(), T0 + 5 * MIN,
         kinds=("resolved",), cancels=("resolved",),
         expect={"status": "resolved", "resolved_by": None, "retrigger_at": None}, wakeup=None),
    Case("resolve: while exhausted", EXHAUSTED, Resolve("dana"), T0 + 2 * MIN,
         kinds=("resolved",), cancels=("resolved",), expect={"status": "resolved"}, wakeup=None),
    Case("resolved: resolve again", RESOLVED, Resolve("bob"), T0 + 9 * MIN,
         kinds=("ignored",), outcome="already_resolved",
         expect={"resolved_by": "alice", "resolved_at": T0 + 3 * MIN}, wakeup=None),
    Case("resolved: ack", RESOLVED, Ack("bob"), T0 + 9 * MIN, kinds=("ignored",), outcome="already_resolved",
         expect={"status": "resolved", "acknowledged_by": None}, wakeup=None),
    Case("resolved: escalate", RESOLVED, Escalate("bob"), T0 + 9 * MIN,
         kinds=("ignored",), outcome="already_resolved", expect={"status": "resolved", "level": 1},
         wakeup=None),
    Case("resolved: trigger (the service opens a new alert)", RESOLVED, Trigger(), T0 + 9 * MIN,
         outcome="already_resolved", expect={"status": "resolved", "last_event_at": T0 + 3 * MIN},
         wakeup=None),
    Case("resolved: timer", RESOLVED, Timer(), T0 + timedelta(hours=9), outcome="ignored",
         expect={"status": "resolved"}, wakeup=None),
    Case("resolved: late delivery failure is only noted", RESOLVED,
         DeliveryFailed("alice", "sms", 1, 1, 1, 0), T0 + 4 * MIN,
         kinds=("delivery_failed",), outcome="already_resolved", expect={"status": "resolved"}, wakeup=None),
    # -- manual escalate
    Case("escalate: next level now", alert(), Escalate("alice"), T0 + MIN,
         kinds=("escalated", "level_paged"), paged=("bob",),
         expect={"level": 2, "loop": 1, "last_event_at": T0 + MIN}, wakeup=T0 + 11 * MIN),
    Case("escalate: from acknowledged re-triggers at the next level", ACKED, Escalate("alice"), T0 + 4 * MIN,
         kinds=("escalated", "level_paged"), paged=("bob",),
         expect={"status": "triggered", "level": 2, "acknowledged_by": None, "retrigger_at": None},
         wakeup=T0 + 14 * MIN),
    Case("escalate: skips empty levels at once", alert(), Escalate("alice"), T0 + MIN,
         on_call={**EVERYONE, L2: []}, kinds=("escalated", "level_skipped", "level_paged"),
         paged=("dana", "erin"), expect={"level": 3}, wakeup=T0 + 16 * MIN),
    Case("escalate: from last level -> next loop", at_level(3, 1, T0), Escalate("dana"), T0 + MIN,
         kinds=("escalated", "level_paged"), paged=("alice",),
         expect={"level": 1, "loop": 2, "cycle": 1}, wakeup=T0 + 6 * MIN),
    Case("escalate: past the end of the last loop starts over, never exhausts", at_level(3, 2, T0),
         Escalate("dana"), T0 + MIN, kinds=("escalated", "level_paged"), paged=("alice",),
         expect={"level": 1, "loop": 2, "cycle": 2, "stage": "paging"}, wakeup=T0 + 6 * MIN),
    Case("escalate: exhausted alert starts the ladder over", EXHAUSTED, Escalate("erin"), T0 + 2 * MIN,
         kinds=("escalated", "level_paged"), paged=("alice",),
         expect={"stage": "paging", "level": 1, "loop": 2, "cycle": 2}, wakeup=T0 + 7 * MIN),
    Case("escalate: no one on call anywhere", NO_ONE, Escalate("boss"), T0 + 30 * SEC, on_call=NOBODY,
         kinds=("escalated",) + ("level_skipped",) * 3 + ("no_one_on_call",),
         expect={"stage": "no_one_on_call"}, wakeup=T0 + 90 * SEC),
    # -- a repeated trigger is deduplicated into the open alert
    Case("trigger repeat: triggered", alert(), Trigger(), T0 + 2 * MIN, kinds=("trigger_repeated",),
         expect={"level": 1, "last_event_at": T0 + 2 * MIN, "auto_resolve_at": H4 + 2 * MIN}, wakeup=T5),
    Case("trigger repeat: acknowledged stays acknowledged", ACKED, Trigger(), T0 + 3 * MIN,
         kinds=("trigger_repeated",), expect={"status": "acknowledged", "last_event_at": T0 + 3 * MIN},
         wakeup=T0 + 32 * MIN),
    # -- auto-resolve
    Case("auto-resolve: triggered", EXHAUSTED, Timer(), H4, kinds=("auto_resolved",), cancels=("resolved",),
         expect={"status": "resolved", "resolved_by": None}, wakeup=None),
    Case("auto-resolve: wins over an overdue level timer", alert(), Timer(), T0 + timedelta(hours=5),
         kinds=("auto_resolved",), cancels=("resolved",), expect={"status": "resolved", "level": 1},
         wakeup=None),
    Case("auto-resolve: acknowledged", replace(ACKED, retrigger_at=None), Timer(), T0 + timedelta(hours=5),
         kinds=("auto_resolved",), cancels=("resolved",), expect={"status": "resolved"}, wakeup=None),
    # -- delivery failures
    Case("delivery failed: sms -> voice now", alert(),
         DeliveryFailed("alice", "sms", 1, 1, 1, 0, "invalid number"), T0 + 5 * SEC,
         kinds=("delivery_failed",), paged=("alice",), expect={"level": 1}, wakeup=T5),
    Case("delivery failed: voice, email already sent -> nothing further", alert(),
         DeliveryFailed("alice", "voice", 1, 1, 1, 1), T0 + 2 * MIN, kinds=("delivery_failed",), wakeup=T5),
    Case("delivery failed: acknowledged -> no fallback", ACKED, DeliveryFailed("alice", "sms", 1, 1, 1, 0),
         T0 + 3 * MIN, kinds=("delivery_failed",), expect={"status": "acknowledged"}, wakeup=T0 + 32 * MIN),
    Case("delivery failed: earlier cycle -> no fallback", alert(cycle=2),
         DeliveryFailed("alice", "sms", 1, 1, 1, 0), T0 + 5 * SEC, kinds=("delivery_failed",), wakeup=T5),
    Case("delivery failed: someone never paged -> no fallback", alert(),
         DeliveryFailed("mallory", "sms", 1, 1, 1, 0), T0 + 5 * SEC, kinds=("delivery_failed",), wakeup=T5),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_state_by_event(case: Case) -> None:
    decision = decide(case.policy, case.state, case.event, case.now, roster(case.on_call))

    assert tuple(e.kind for e in decision.timeline) == case.kinds
    assert all(e.at == case.now for e in decision.timeline)
    assert tuple(n.user for n in decision.notifications) == case.paged
    cancels = tuple(c.reason for c in decision.commands if isinstance(c, CancelPendingNotifications))
    assert cancels == case.cancels
    assert decision.outcome == case.outcome
    for name, value in case.expect.items():
        assert getattr(decision.state, name) == value, name
    assert decision.next_wakeup == case.wakeup
    assert decision.next_wakeup == decision.state.next_action_at
    if case.outcome in ("ignored", "already_acknowledged", "already_resolved") and case.state is not None:
        assert decision.state == replace(case.state, auto_resolve_at=decision.state.auto_resolve_at)


# -- details the table does not show ---------------------------------------------------------------


def test_page_expands_each_users_rules_into_keyed_steps() -> None:
    rules = {"bob": (NotificationRule("voice", timedelta(0)), NotificationRule("sms", 2 * MIN))}
    decision = decide(POLICY, alert(cycle=3, loop=2), Timer(), T5, roster(EVERYONE, rules))
    (notify,) = decision.notifications
    assert notify.user == "bob"
    assert notify.steps == (
        NotificationStep("bob", "voice", 0, T5, 3, 2, 2),
        NotificationStep("bob", "sms", 1, T5 + 2 * MIN, 3, 2, 2),
    )
    assert notify.steps[1].key == (3, 2, 2, "bob", "sms", 1)
    assert notify.steps[1].idempotency_key(42) == "42:c3:l2:v2:bob:sms:1"


def test_user_without_rules_gets_the_default_rules() -> None:
    decision = decide(POLICY, None, Trigger(), T0, roster(EVERYONE))
    (notify,) = decision.notifications
    assert [(s.method, s.due_at - T0) for s in notify.steps] == [(r.method, r.delay) for r in DEFAULT_RULES]


def test_sms_failure_brings_the_voice_step_forward_with_the_same_key() -> None:
    now = T0 + timedelta(seconds=10)
    decision = decide(
        POLICY, alert(), DeliveryFailed("alice", "sms", 1, 1, 1, 0, "21211"), now, roster(EVERYONE)
    )
    (notify,) = decision.notifications
    assert notify.steps == (NotificationStep("alice", "voice", 1, now, 1, 1, 1),)
    assert "falling back to voice" in decision.timeline[0].message
    assert "21211" in decision.timeline[0].message


def test_delivery_failure_of_an_earlier_level_still_falls_back() -> None:
    # Level 1's page to alice keeps its rule steps after escalation to level 2; so does its fallback.
    state = decide(POLICY, alert(), Timer(), T5, roster(EVERYONE)).state
    now = T5 + timedelta(seconds=1)
    decision = decide(POLICY, state, DeliveryFailed("alice", "voice", 1, 1, 1, 1), now, roster(EVERYONE))
    assert decision.notifications == ()  # sms and email were due at T0: nothing later to bring forward
    sms_failed = decide(
        POLICY, state, DeliveryFailed("bob", "sms", 1, 1, 2, 0), T5 + timedelta(seconds=1), roster(EVERYONE)
    )
    assert [s.method for n in sms_failed.notifications for s in n.steps] == ["voice"]


def test_timeline_messages_say_what_happened() -> None:
    messages = [e.message for e in decide(POLICY, None, Trigger(), T0, roster({**EVERYONE, L1: []})).timeline]
    assert messages == [
        "triggered",
        "no one on call at level 1 (loop 1); skipped",
        "level 2 (loop 1) paged: bob",
    ]
    nobody = decide(POLICY, None, Trigger(), T0, roster(NOBODY)).timeline[-1]
    assert nobody.message == "no one on call at any level; retrying every minute"
    acked = decide(POLICY, alert(), Ack("alice"), T0 + MIN, roster(EVERYONE)).timeline[0]
    assert (acked.message, acked.actor) == ("acknowledged by alice", "alice")
    again = decide(POLICY, ACKED, Ack("bob"), T0 + 3 * MIN, roster(EVERYONE)).timeline[0]
    assert again.message == "acknowledged again by bob; already acknowledged by alice"
    retriggered = decide(POLICY, ACKED, Timer(), T0 + 32 * MIN, roster(EVERYONE)).timeline[0]
    assert retriggered.message == "not resolved 30m after the acknowledgement; triggered again from level 1"
    auto = decide(POLICY, EXHAUSTED, Timer(), T0 + timedelta(hours=4), roster(EVERYONE)).timeline[0]
    assert auto.message == "auto-resolved: no new event for 4h"
    paged = decide(POLICY, at_level(2, 1, T0), Timer(), T10, roster(EVERYONE)).timeline[0]
    assert (paged.loop, paged.level, paged.users) == (1, 3, ("dana", "erin"))


def test_only_a_trigger_opens_an_alert() -> None:
    with pytest.raises(ValueError, match="only a Trigger"):
        decide(POLICY, None, Ack("alice"), T0, roster(EVERYONE))


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        decide(POLICY, None, Trigger(), T0.replace(tzinfo=None), roster(EVERYONE))


def test_a_policy_that_shrank_under_an_open_alert_is_handled() -> None:
    # Config reloaded to one level, no repeat, while the alert sat at level 3 of loop 2.
    small = replace(POLICY, levels=POLICY.levels[:1], repeat=0)
    decision = decide(small, at_level(3, 2, T0), Timer(), T0 + 15 * MIN, roster(EVERYONE))
    assert decision.state.stage == "exhausted"
    assert [e.kind for e in decision.timeline] == ["exhausted"]


def test_state_round_trips_through_a_json_document() -> None:
    import json

    state = decide(POLICY, ACKED, Timer(), T0 + 32 * MIN + timedelta(microseconds=7), roster(EVERYONE)).state
    document = json.loads(json.dumps(state.to_document()))
    assert document["next_action_at"] == state.next_action_at.isoformat()  # type: ignore[union-attr]
    assert AlertState.from_document(document) == state
    assert AlertState.from_document(RESOLVED.to_document()) == RESOLVED


def test_a_document_writes_each_instant_as_it_is_even_when_equal_instants_repeat() -> None:
    """Equal UTC instants are formatted once; an equal instant at another offset keeps its own."""
    from datetime import timezone

    paris = T0.astimezone(timezone(timedelta(hours=1)))
    state = AlertState(
        "triggered",
        "paging",
        1,
        1,
        2,
        triggered_at=T0,
        last_event_at=paris,
        escalate_at=T0 + 5 * MIN,
        pages=(PagedLevel(1, 1, T0, ("alice",)), PagedLevel(1, 2, paris, ("bob",))),
    )
    document = state.to_document()
    assert document["triggered_at"] == T0.isoformat() and document["last_event_at"] == paris.isoformat()
    assert [page["at"] for page in document["pages"]] == [T0.isoformat(), paris.isoformat()]
    assert document["escalate_at"] == document["next_action_at"] == (T0 + 5 * MIN).isoformat()


def test_a_document_is_read_back_strictly() -> None:
    """A document lacking a required field, or with an instant without an offset, is refused; an
    offset other than UTC is read as the same instant, in UTC; fields left out take their defaults."""
    from pager.core.localtime import NaiveInstantError

    document = STATE_DOC.copy()
    del document["cycle"]
    with pytest.raises(TypeError, match="'cycle'"):
        AlertState.from_document(document)
    with pytest.raises(NaiveInstantError):
        AlertState.from_document({**STATE_DOC, "escalate_at": "2026-03-01T10:05:00"})
    state = AlertState.from_document({**STATE_DOC, "escalate_at": "2026-03-01T11:05:00+01:00"})
    assert state.escalate_at == datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    assert state.escalate_at.tzinfo is UTC
    assert state.pages == () and state.held_by is None and state.acknowledged_at is None


STATE_DOC = {
    "status": "triggered",
    "stage": "paging",
    "cycle": 1,
    "loop": 1,
    "level": 1,
    "triggered_at": "2026-03-01T10:00:00+00:00",
    "last_event_at": "2026-03-01T10:00:00+00:00",
}


def test_format_duration_writes_durations_as_policies_write_them() -> None:
    seconds = (0, 45, 90, 3600, 4 * 3600 + 60, 86400 + 7200)
    expected = ["0s", "45s", "1m30s", "1h", "4h1m", "1d2h"]
    assert [format_duration(timedelta(seconds=s)) for s in seconds] == expected


# -- scenarios on a fake clock ---------------------------------------------------------------------


class Alert:
    """Drives decide() the way the engine does, recording every command."""

    def __init__(self, policy: EscalationPolicy, on_call: Mapping[str, Sequence[str]]) -> None:
        self.policy, self.on_call = policy, dict(on_call)
        self.state: AlertState | None = None
        self.decisions: list[Decision] = []

    def send(self, event: Event, now: datetime) -> Decision:
        decision = decide(self.policy, self.state, event, now, roster(self.on_call))
        self.state = decision.state
        self.decisions.append(decision)
        return decision

    def tick(self) -> Decision:
        assert self.state is not None and self.state.next_action_at is not None
        return self.send(Timer(), self.state.next_action_at)

    def pages(self) -> list[tuple[datetime, int, int, str]]:
        return [
            (d.timeline[0].at, s.loop, s.level, s.user)
            for d in self.decisions
            for n in d.notifications
            for s in n.steps[:1]
        ]


def test_full_ladder_three_levels_repeat_one() -> None:
    run = Alert(PLAIN, EVERYONE)
    run.send(Trigger(), T0)
    while run.state is not None and run.state.stage != "exhausted":
        run.tick()
    assert run.pages() == [
        (T0, 1, 1, "alice"),
        (T0 + 5 * MIN, 1, 2, "bob"),
        (T0 + 15 * MIN, 1, 3, "dana"),
        (T0 + 15 * MIN, 1, 3, "erin"),
        (T0 + 30 * MIN, 2, 1, "alice"),
        (T0 + 35 * MIN, 2, 2, "bob"),
        (T0 + 45 * MIN, 2, 3, "dana"),
        (T0 + 45 * MIN, 2, 3, "erin"),
    ]
    last = run.decisions[-1]
    assert last.timeline[0].kind == "exhausted" and last.timeline[0].at == T0 + 60 * MIN
    assert run.state is not None and run.state.status == "triggered" and run.state.next_action_at is None


def test_ack_then_ack_timeout_then_resolve() -> None:
    run = Alert(POLICY, EVERYONE)
    run.send(Trigger(), T0)
    run.tick()  # level 2, bob
    assert run.send(Ack("bob"), T0 + 7 * MIN).outcome == "applied"
    assert run.send(Ack("alice"), T0 + 8 * MIN).outcome == "already_acknowledged"
    assert run.state is not None and run.state.next_action_at == T0 + 37 * MIN
    retriggered = run.tick()
    assert [e.kind for e in retriggered.timeline] == ["retriggered", "level_paged"]
    assert run.state.cycle == 2 and run.state.level == 1 and run.state.loop == 1
    run.tick()  # level 2 again, in the new cycle
    keys = [s.key for d in run.decisions for n in d.notifications for s in n.steps]
    assert len(keys) == len(set(keys)), "a re-trigger must not reuse an outbox key"
    done = run.send(Resolve("bob"), T0 + 50 * MIN)
    assert CancelPendingNotifications("resolved") in done.commands
    assert run.send(Escalate("bob"), T0 + 51 * MIN).outcome == "already_resolved"
    assert run.state.status == "resolved" and run.state.next_action_at is None


def test_nobody_on_call_is_retried_every_minute_until_someone_is() -> None:
    run = Alert(PLAIN, NOBODY)
    run.send(Trigger(), T0)
    for _ in range(3):
        assert run.tick().commands == ()
    assert run.state is not None and run.state.next_action_at == T0 + 4 * MIN
    run.on_call[L2] = ["bob"]  # bob's shift starts
    found = run.tick()
    assert [(e.kind, e.level) for e in found.timeline] == [("level_skipped", 1), ("level_paged", 2)]
    assert found.timeline[0].at == T0 + 4 * MIN
    assert run.state.escalate_at == T0 + 14 * MIN and run.state.loop == 1


def test_retry_interval_is_one_minute() -> None:
    assert NO_ONE_RETRY == MIN


# -- policies and targets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("schedule:checkout", Target("schedule", "checkout", "primary")),
        ("schedule:checkout/primary", Target("schedule", "checkout", "primary")),
        (" schedule:checkout/secondary ", Target("schedule", "checkout", "secondary")),
        ("user:dana", Target("user", "dana")),
        ("user:dana.smith", Target("user", "dana.smith")),
    ],
)
def test_parse_target(text: str, target: Target) -> None:
    assert parse_target(text) == target
    assert parse_target(str(target)) == target


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("checkout", "expected schedule:ID"),
        ("team:ops", "expected schedule:ID"),
        ("schedule:", "expected schedule:ID"),
        ("schedule:checkout/tertiary", "role must be primary or secondary"),
        ("user:dana/secondary", "a user has no role"),
        ("user:da na", "expected schedule:ID"),
        ("", "expected schedule:ID"),
    ],
)
def test_parse_target_refuses_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_target(text)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"repeat": 10}, "repeat must be a whole number from 0 to 9"),
        ({"repeat": -1}, "repeat must be"),
        ({"levels": ()}, "no levels"),
        ({"ack_timeout": -MIN}, "ack_timeout must not be negative"),
        ({"auto_resolve": timedelta(0)}, "auto_resolve must be longer than zero"),
    ],
)
def test_policy_invariants(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        replace(POLICY, **changes)


def test_level_and_rule_invariants() -> None:
    with pytest.raises(PolicyError, match="escalate_after must be longer than zero"):
        Level((parse_target("user:dana"),), timedelta(0))
    with pytest.raises(PolicyError, match="bad notification method"):
        NotificationRule("pigeon", timedelta(0))  # type: ignore[arg-type]
    assert POLICY.loops == 2
    assert [(r.method, r.delay) for r in DEFAULT_RULES] == [
        ("sms", timedelta(0)),
        ("voice", MIN),
        ("email", timedelta(0)),
    ]


# -- invariants over random event sequences -----------------------------------------------------------

_HANDLES = st.lists(st.sampled_from(["alice", "bob", "carol"]), max_size=2)
_ACTIONS = st.lists(
    st.one_of(
        st.just(("timer",)),
        st.tuples(st.just("wait"), st.integers(1, 90)),
        st.tuples(
            st.sampled_from(["ack", "resolve", "escalate", "trigger", "failed"]),
            st.sampled_from(["alice", "bob"]),
        ),
        st.tuples(st.just("shift"), st.integers(0, 2), _HANDLES),
        st.tuples(st.just("snooze"), st.sampled_from(["alice", "bob"]), st.integers(1, 90)),
        st.just(("window_ended",)),
    ),
    max_size=40,
)


# Each example is a whole alert life of up to 40 events; 2,000 of them cover the small state space well
# and keep this test at a few seconds instead of the profile's 10,000 (about a minute).
@settings(max_examples=2_000)
@given(
    levels=st.integers(1, 3),
    repeat=st.integers(0, 2),
    ack_timeout=st.sampled_from([0, 30]),
    auto_resolve=st.sampled_from([None, 120]),
    start=st.lists(_HANDLES, min_size=3, max_size=3),
    actions=_ACTIONS,
    held_for=st.sampled_from([None, 10, 45]),
)
def test_invariants_hold_for_any_event_sequence(
    levels: int,
    repeat: int,
    ack_timeout: int,
    auto_resolve: int | None,
    start: list[list[str]],
    actions: list[tuple[Any, ...]],
    held_for: int | None,
) -> None:
    policy = EscalationPolicy(
        "p",
        "P",
        levels=tuple(Level((Target("schedule", f"s{i}"),), (i + 2) * MIN) for i in range(levels)),
        repeat=repeat,
        ack_timeout=ack_timeout * MIN,
        auto_resolve=None if auto_resolve is None else auto_resolve * MIN,
    )
    on_call = {f"schedule:s{i}": handles for i, handles in enumerate(start)}
    now = T0
    # A maintenance window may hold the service from T0 for `held_for` minutes (until it is ended).
    window_end = None if held_for is None else T0 + held_for * MIN

    def inputs() -> DecisionInputs:
        hold = None if window_end is None or now >= window_end else Hold("window 1", window_end, 1)
        return replace(roster(on_call), hold=hold)

    decision = decide(policy, None, Trigger(), now, inputs())
    assert (decision.state.status == "suppressed") == (held_for is not None)
    keys = [s.key for n in decision.notifications for s in n.steps]
    for action in actions:
        before = decision.state
        event: Event
        match action:
            case ("snooze", user, minutes):
                event = Snooze(minutes * MIN, user)
            case ("window_ended",):
                if window_end is not None and now < window_end:
                    window_end = now
                event = HoldEnded("bob")
            case ("timer",):
                if before.next_action_at is None:
                    continue
                now = max(now, before.next_action_at)
                event = Timer()
            case ("wait", minutes):
                now += minutes * MIN
                continue
            case ("shift", level, handles):
                on_call[f"schedule:s{level}"] = handles
                continue
            case ("failed", user):
                page = before.pages[-1] if before.pages else PagedLevel(1, 1, T0, (user,))
                event = DeliveryFailed(user, "sms", before.cycle, page.loop, page.level, 0)
            case ("ack", user):
                event = Ack(user)
            case ("resolve", user):
                event = Resolve(user)
            case ("escalate", user):
                event = Escalate(user)
            case _:
                event = Trigger()
        decision = decide(policy, before, event, now, inputs())
        if not needs_on_call(before, event):  # the loader skips who is on call: it must not matter
            no_one = DecisionInputs(hold=inputs().hold)
            assert decide(policy, before, event, now, no_one) == decision
        if not needs_hold(before, event):  # nor the hold, when it is not read
            assert decide(policy, before, event, now, roster(on_call)) == decision
        state = decision.state
        assert AlertState.from_document(state.to_document()) == state
        if state.status == "suppressed":
            assert not decision.notifications, "a held alert paged someone"
            assert state.held_until is not None, "a held alert without the end of its hold"
            if isinstance(event, Timer | HoldEnded):
                assert state.held_until > now, "the hold's end is not later than the timer that read it"
        if isinstance(event, Snooze) and before.status != "resolved":
            assert state.status == "acknowledged" and not decision.notifications
            assert state.retrigger_at == state.snoozed_until == now + event.length
        if state.snoozed_until is not None:
            assert state.status == "acknowledged" and state.retrigger_at == state.snoozed_until
        if not isinstance(event, DeliveryFailed):
            keys += [s.key for n in decision.notifications for s in n.steps]
        if before.status == "resolved":
            assert state == before and not decision.notifications
        if isinstance(event, Timer):
            assert state.next_action_at is None or state.next_action_at > now, "the worker would spin"
        if state.status == "triggered":
            assert state.next_action_at is not None or state.stage == "exhausted", "alert dropped silently"
            assert (state.escalate_at is None) == (state.stage == "exhausted")
        assert 1 <= state.loop <= policy.loops and 1 <= state.level <= levels
        for page in state.pages:
            assert page.users and 1 <= page.level <= levels
    assert len(keys) == len(set(keys)), "an idempotency key was reused for a new page"


def test_a_changed_state_is_a_copy_and_unknown_fields_are_refused() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    state = AlertState("triggered", "paging", 1, 1, 1, triggered_at=at, last_event_at=at)
    moved = state.changed(level=2, escalate_at=at + timedelta(minutes=5))
    assert moved == replace(state, level=2, escalate_at=at + timedelta(minutes=5))
    assert state.level == 1 and state.escalate_at is None
    assert AlertState.from_document(moved.to_document()) == moved
    with pytest.raises(TypeError, match="no field 'levle'"):
        state.changed(levle=3)
