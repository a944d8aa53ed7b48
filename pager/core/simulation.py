"""Dry run of an escalation policy (`pager simulate`): who would be paged, how and when, if nobody acks.

It drives the engine's own `decide` with a Trigger at `start` and a Timer at each wake-up, so what it
prints is what the engine would do (docs/escalation.md, "Dry run").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pager.core.escalation import (
    AppendTimeline,
    Decision,
    NotificationStep,
    Notify,
    Timer,
    Trigger,
    decide,
    format_duration,
    inputs_at,
)
from pager.core.localtime import format_instant, require_aware
from pager.core.policy import EscalationPolicy, ResolveTargets, RulesFor, default_rules

# A ladder that finds no one on call retries every minute for ever; the dry run stops looking here.
DEFAULT_HORIZON = timedelta(days=7)


@dataclass(frozen=True)
class SimulatedStep:
    """Level `level` of loop `loop` reached at `at`: paged `notify` (empty: skipped, no one on call)."""

    at: datetime
    loop: int
    level: int
    notify: tuple[str, ...]
    pages: tuple[NotificationStep, ...] = ()  # each user's rule steps: method and due instant


@dataclass(frozen=True)
class Simulation:
    """The dry run's outcome; `exhausted_at` is None when the ladder was still going at `until`."""

    policy: str
    start: datetime
    until: datetime
    steps: tuple[SimulatedStep, ...]
    exhausted_at: datetime | None
    timeline: tuple[AppendTimeline, ...]


def simulate(
    policy: EscalationPolicy,
    start: datetime,
    resolve_targets: ResolveTargets,
    rules_for: RulesFor = default_rules,
    horizon: timedelta = DEFAULT_HORIZON,
) -> Simulation:
    """Trigger an alert at `start` and let every timer fire, nobody acknowledging, until exhaustion.

    Auto-resolve is left out: it depends on events from the monitoring, which a dry run cannot know.
    """
    start = require_aware(start)
    until = start + horizon
    ladder = replace(policy, auto_resolve=None)
    inputs = inputs_at(ladder, start, resolve_targets, rules_for)
    decision = decide(ladder, None, Trigger(), start, inputs)
    steps: list[SimulatedStep] = []
    timeline: list[AppendTimeline] = []
    _collect(decision, steps, timeline)
    while (wake := decision.next_wakeup) is not None and wake <= until:
        inputs = inputs_at(ladder, wake, resolve_targets, rules_for)  # who is on call moves with time
        decision = decide(ladder, decision.state, Timer(), wake, inputs)
        _collect(decision, steps, timeline)
    exhausted_at = next((e.at for e in timeline if e.kind == "exhausted"), None)
    return Simulation(policy.id, start, until, tuple(steps), exhausted_at, tuple(timeline))


def _collect(decision: Decision, steps: list[SimulatedStep], timeline: list[AppendTimeline]) -> None:
    for command in decision.commands:
        if isinstance(command, AppendTimeline):
            timeline.append(command)
            if command.kind in ("level_paged", "level_skipped") and command.loop and command.level:
                steps.append(SimulatedStep(command.at, command.loop, command.level, command.users))
        elif isinstance(command, Notify) and steps:
            # A level's pages follow its level_paged entry.
            last = steps[-1]
            steps[-1] = replace(last, pages=last.pages + command.steps)


def simulation_json(simulation: Simulation) -> dict[str, Any]:
    """The `pager simulate --json` document (docs/cli.md, "Escalation dry run")."""
    return {
        "policy": simulation.policy,
        "from": format_instant(simulation.start),
        "steps": [
            {"at": format_instant(s.at), "loop": s.loop, "level": s.level, "notify": list(s.notify)}
            for s in simulation.steps
        ],
        "exhausted_at": None if simulation.exhausted_at is None else format_instant(simulation.exhausted_at),
    }


def simulation_lines(simulation: Simulation) -> list[str]:
    """Human-readable dry run: one line per level reached, with each user's methods and delays."""
    lines = [
        f"policy {simulation.policy}: alert triggered at {format_instant(simulation.start)}, nobody acks"
    ]
    steps = iter(simulation.steps)
    for entry in simulation.timeline:
        when = format_instant(entry.at)
        if entry.kind == "level_paged":
            step = next(steps)
            who = "; ".join(_methods(step, user) for user in step.notify)
            lines.append(f"{when}  loop {step.loop} level {step.level}: {who}")
        elif entry.kind == "level_skipped":
            step = next(steps)
            lines.append(f"{when}  loop {step.loop} level {step.level}: no one on call, skipped")
        elif entry.kind in ("no_one_on_call", "exhausted"):
            lines.append(f"{when}  {entry.message}")
    if simulation.exhausted_at is None:
        lines.append(f"still escalating at {format_instant(simulation.until)}; the dry run stops there")
    return lines


def _methods(step: SimulatedStep, user: str) -> str:
    own = (p for p in step.pages if p.user == user)
    methods = ", ".join(f"{p.method} +{format_duration(p.due_at - step.at)}" for p in own)
    return f"{user} ({methods})" if methods else user
