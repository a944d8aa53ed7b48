"""The dry run (`pager simulate`): the engine's own decide(), driven by timers, nobody acknowledging."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from pager.core.durations import parse_shift
from pager.core.escalation import AlertState, AppendTimeline, Timer, Trigger, decide, inputs_at
from pager.core.model import Override, RotationLayer, Schedule
from pager.core.policy import (
    EscalationPolicy,
    Level,
    NotificationRule,
    Target,
    on_call_resolver,
    parse_target,
)
from pager.core.simulation import simulate, simulation_json, simulation_lines

T0 = datetime(2026, 3, 8, 8, 30, tzinfo=UTC)
MIN = timedelta(minutes=1)

CHECKOUT = Schedule(
    id="checkout",
    name="Checkout",
    time_zone="America/Chicago",
    layers=(
        RotationLayer("daily", ("alice", "bob", "carol"), datetime(2026, 3, 1, 9, 0), parse_shift("1d")),
    ),
)
EMPTY = Schedule("empty", "Nobody", "UTC", layers=())


def ladder(
    *targets: str, minutes: tuple[int, ...] = (5, 10, 15), repeat: int = 1, **kw: object
) -> EscalationPolicy:
    levels = tuple(
        Level(tuple(parse_target(t) for t in group.split(",")), m * MIN)
        for group, m in zip(targets, minutes, strict=True)
    )
    return EscalationPolicy("checkout-critical", "Checkout critical", levels, repeat=repeat, **kw)  # type: ignore[arg-type]


def users(
    on_call: Callable[[datetime], dict[str, list[str]]],
) -> Callable[[tuple[Target, ...], datetime], list[str]]:
    """A resolver: schedule targets via `on_call(at)`, user targets as themselves."""

    def resolve(targets: tuple[Target, ...], at: datetime) -> list[str]:
        table = on_call(at)
        return [h for t in targets for h in ([t.ref] if t.kind == "user" else table.get(str(t), []))]

    return resolve


def test_json_for_a_policy_with_an_empty_middle_level() -> None:
    policy = ladder("schedule:checkout", "schedule:empty", "user:dana,user:erin")
    simulation = simulate(policy, T0, on_call_resolver({"checkout": CHECKOUT, "empty": EMPTY}))
    # 08:30 UTC on 2026-03-08 is 03:30 CDT: the 2026-03-07 09:00 CST shift (day 6 -> alice) still runs.
    document = simulation_json(simulation)
    assert document == {
        "policy": "checkout-critical",
        "from": "2026-03-08T08:30:00+00:00",
        "steps": [
            {"at": "2026-03-08T08:30:00+00:00", "loop": 1, "level": 1, "notify": ["alice"]},
            {"at": "2026-03-08T08:35:00+00:00", "loop": 1, "level": 2, "notify": []},
            {"at": "2026-03-08T08:35:00+00:00", "loop": 1, "level": 3, "notify": ["dana", "erin"]},
            {"at": "2026-03-08T08:50:00+00:00", "loop": 2, "level": 1, "notify": ["alice"]},
            {"at": "2026-03-08T08:55:00+00:00", "loop": 2, "level": 2, "notify": []},
            {"at": "2026-03-08T08:55:00+00:00", "loop": 2, "level": 3, "notify": ["dana", "erin"]},
        ],
        "exhausted_at": "2026-03-08T09:10:00+00:00",
    }
    assert json.loads(json.dumps(document)) == document


def test_a_handoff_during_the_ladder_pages_the_incoming_person() -> None:
    # Daily 09:00 America/Chicago handoff: on 2026-03-08 (DST starts) 09:00 CDT is 14:00 UTC.
    policy = ladder("schedule:checkout", "schedule:checkout/secondary", minutes=(5, 10), repeat=2)
    start = datetime(2026, 3, 8, 13, 50, tzinfo=UTC)
    steps = simulate(policy, start, on_call_resolver({"checkout": CHECKOUT})).steps
    assert [(s.at.strftime("%H:%M"), s.loop, s.level, s.notify) for s in steps] == [
        ("13:50", 1, 1, ("alice",)),
        ("13:55", 1, 2, ("bob",)),
        ("14:05", 2, 1, ("bob",)),
        ("14:10", 2, 2, ("carol",)),
        ("14:20", 3, 1, ("bob",)),
        ("14:25", 3, 2, ("carol",)),
    ]


def test_overrides_are_honoured() -> None:
    override = Override("checkout", "primary", T0, T0 + 10 * MIN, "zoe")
    policy = ladder("schedule:checkout", minutes=(5,), repeat=2)
    steps = simulate(policy, T0, on_call_resolver({"checkout": CHECKOUT}, [override])).steps
    assert [s.notify for s in steps] == [("zoe",), ("zoe",), ("alice",)]


def test_exhaustion_comes_when_the_last_level_of_the_last_loop_times_out() -> None:
    policy = ladder("user:a", "user:b", "user:c", repeat=2)
    simulation = simulate(policy, T0, users(lambda at: {}))
    assert len(simulation.steps) == 9
    assert [(s.loop, s.level) for s in simulation.steps][-3:] == [(3, 1), (3, 2), (3, 3)]
    assert simulation.exhausted_at == T0 + 3 * 30 * MIN


def test_nobody_on_call_retries_every_minute_until_someone_is() -> None:
    def on_call(at: datetime) -> dict[str, list[str]]:
        return {"schedule:checkout": ["alice"]} if at >= T0 + 3 * MIN else {}

    simulation = simulate(
        ladder("schedule:checkout", "schedule:empty", minutes=(5, 10), repeat=0), T0, users(on_call)
    )
    assert [(s.at - T0, s.level, s.notify) for s in simulation.steps] == [
        (timedelta(0), 1, ()),
        (timedelta(0), 2, ()),
        (3 * MIN, 1, ("alice",)),
        (8 * MIN, 2, ()),
    ]
    assert simulation.exhausted_at == T0 + 8 * MIN
    lines = simulation_lines(simulation)
    assert f"{T0.isoformat()}  no one on call at any level; retrying every minute" in lines


def test_nobody_ever_stops_at_the_horizon() -> None:
    simulation = simulate(
        ladder("schedule:empty", minutes=(5,)), T0, users(lambda at: {}), horizon=timedelta(hours=2)
    )
    assert simulation.exhausted_at is None
    assert simulation.until == T0 + timedelta(hours=2)
    assert simulation_json(simulation)["exhausted_at"] is None
    assert [(s.level, s.notify) for s in simulation.steps] == [(1, ())]
    assert (
        simulation_lines(simulation)[-1]
        == "still escalating at 2026-03-08T10:30:00+00:00; the dry run stops there"
    )


def test_auto_resolve_does_not_cut_the_dry_run_short() -> None:
    policy = ladder("user:a", "user:b", minutes=(30, 30), repeat=0, auto_resolve=10 * MIN)
    assert simulate(policy, T0, users(lambda at: {})).exhausted_at == T0 + 60 * MIN


def test_start_in_another_offset_is_reported_in_utc() -> None:
    start = datetime(2026, 3, 8, 3, 30, tzinfo=timezone(timedelta(hours=-5)))
    document = simulation_json(simulate(ladder("user:a", minutes=(5,)), start, users(lambda at: {})))
    assert document["from"] == "2026-03-08T08:30:00+00:00"
    assert document["steps"][0]["at"] == "2026-03-08T08:30:00+00:00"


def test_lines_show_methods_and_delays_per_user() -> None:
    rules = {"a": (NotificationRule("voice", timedelta(0)), NotificationRule("email", 2 * MIN))}
    policy = ladder("user:a,user:b", "schedule:empty", minutes=(5, 5), repeat=0)
    lines = simulation_lines(simulate(policy, T0, users(lambda at: {}), lambda u: rules.get(u, ())))
    assert lines == [
        "policy checkout-critical: alert triggered at 2026-03-08T08:30:00+00:00, nobody acks",
        "2026-03-08T08:30:00+00:00  loop 1 level 1: a (voice +0s, email +2m); "
        "b (sms +0s, voice +1m, email +0s)",
        "2026-03-08T08:35:00+00:00  loop 1 level 2: no one on call, skipped",
        "2026-03-08T08:35:00+00:00  escalation exhausted after 1 loop(s); alert stays triggered",
    ]


def test_the_dry_run_is_what_the_engine_does() -> None:
    # Drive decide() by hand as the worker would and compare with the dry run's timeline.
    def on_call(at: datetime) -> dict[str, list[str]]:
        minute = int((at - T0) / MIN)
        return {"schedule:checkout": [] if 4 <= minute < 20 else ["alice"], "schedule:empty": []}

    policy = ladder("schedule:checkout", "schedule:empty", "user:dana", repeat=1)
    resolve = users(on_call)
    decision = decide(policy, None, Trigger(), T0, inputs_at(policy, T0, resolve))
    timeline: list[AppendTimeline] = list(decision.timeline)
    state: AlertState = decision.state
    while state.stage != "exhausted":
        assert state.next_action_at is not None
        at = state.next_action_at
        decision = decide(policy, state, Timer(), at, inputs_at(policy, at, resolve))
        state = decision.state
        timeline += decision.timeline
    assert simulate(policy, T0, resolve).timeline == tuple(timeline)


def test_resolver_handles_users_roles_missing_schedules_and_duplicates() -> None:
    resolve = on_call_resolver({"checkout": CHECKOUT})
    targets = (
        Target("schedule", "checkout"),
        Target("schedule", "checkout", "secondary"),
        Target("schedule", "typo"),
        Target("user", "alice"),
        Target("user", "dana"),
    )
    assert resolve(targets, T0) == ["alice", "bob", "dana"]
