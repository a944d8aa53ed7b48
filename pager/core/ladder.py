"""Walking an escalation policy's ladder: the part of a decision that pages people.

`LadderRun` is one decision in progress (pager.core.escalation.decide makes one per event): the
inputs, the commands gathered so far, and the walk over levels and loops that pages the first level
with someone on call. docs/escalation.md, "Walking the ladder", has the rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pager.core.alert import (
    AlertState,
    AppendTimeline,
    CancelPendingNotifications,
    Command,
    Decision,
    DecisionOutcome,
    NotificationStep,
    Notify,
    PagedLevel,
    TimelineKind,
)
from pager.core.maintenance import Hold
from pager.core.policy import DEFAULT_RULES, EscalationPolicy, NotificationRule, Target

NO_ONE_RETRY = timedelta(minutes=1)


@dataclass(frozen=True)
class DecisionInputs:
    """What a decision reads besides the policy, the state and the event, loaded before it starts.

    `on_call`: the handles each target of the policy means at the decision's `now` (a schedule role:
    its holder or nobody; a user: that user). `rules`: a person's notification rules in rule-step order;
    someone absent (or with none) is paged by DEFAULT_RULES, and the caller then finds no address.
    `hold`: the maintenance hold on the alert's service at `now` (read when the alert opens or a
    hold ends), None when no window holds it.
    """

    on_call: Mapping[Target, tuple[str, ...]] = field(default_factory=dict)
    rules: Mapping[str, tuple[NotificationRule, ...]] = field(default_factory=dict)
    hold: Hold | None = None


def who(by: str | None) -> str:
    return by if by is not None else "integration event"


def dedup(handles: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(h for h in handles if h))


class LadderRun:
    """One decision in progress: the inputs and the commands gathered so far."""

    def __init__(self, policy: EscalationPolicy, now: datetime, inputs: DecisionInputs) -> None:
        self.policy = policy
        self.now = now
        self.inputs = inputs
        self.commands: list[Command] = []

    def on_call(self, targets: tuple[Target, ...]) -> tuple[str, ...]:
        try:
            return dedup([handle for target in targets for handle in self.inputs.on_call[target]])
        except KeyError as missing:
            raise ValueError(f"decision inputs lack target {missing.args[0]!r}") from None

    def rules_for(self, user: str) -> tuple[NotificationRule, ...]:
        return tuple(self.inputs.rules.get(user, ())) or DEFAULT_RULES

    def entry(self, kind: TimelineKind, message: str, **details: Any) -> AppendTimeline:
        return AppendTimeline(kind, message, self.now, **details)

    def log(self, kind: TimelineKind, message: str, **details: Any) -> None:
        self.commands.append(self.entry(kind, message, **details))

    def finish(self, state: AlertState, outcome: DecisionOutcome = "applied") -> Decision:
        auto_resolve = self.policy.auto_resolve
        open_ = state.status != "resolved"
        due = state.last_event_at + auto_resolve if open_ and auto_resolve is not None else None
        return Decision(state.changed(auto_resolve_at=due), tuple(self.commands), outcome)

    # -- walking the ladder

    def walk(
        self, state: AlertState, level: int, loop: int, *, manual: bool = False, quiet: bool = False
    ) -> AlertState:
        """Page the first level from (level, loop) on that has someone, skipping empty ones at once.

        A pass that starts at level 1 and finds nobody means no one is on call anywhere: retry in a
        minute, without loop change. `quiet` (a retry after such a pass) logs nothing if still nobody.
        """
        count = len(self.policy.levels)
        skipped: list[Command] = []
        while True:
            for number in range(level, count + 1):
                users = self.on_call(self.policy.levels[number - 1].targets)
                if users:
                    self.commands.extend(skipped)
                    return self.page(state, number, loop, users)
                message = f"no one on call at level {number} (loop {loop}); skipped"
                skipped.append(self.entry("level_skipped", message, loop=loop, level=number))
            if level == 1:
                if not quiet:
                    self.commands.extend(skipped)
                    self.log(
                        "no_one_on_call", "no one on call at any level; retrying every minute", loop=loop
                    )
                return state.changed(
                    stage="no_one_on_call", level=1, loop=loop, escalate_at=self.now + NO_ONE_RETRY
                )
            self.commands.extend(skipped)
            skipped = []
            if loop < self.policy.loops:
                loop += 1
            elif manual:
                # Escalating past the end never exhausts: the ladder starts over as a fresh cycle.
                state = state.changed(cycle=state.cycle + 1, pages=())
            else:
                self.log(
                    "exhausted",
                    f"escalation exhausted after {loop} loop(s); alert stays triggered",
                    loop=loop,
                )
                return state.changed(stage="exhausted", level=count, loop=loop, escalate_at=None)
            level = 1

    def page(self, state: AlertState, number: int, loop: int, users: tuple[str, ...]) -> AlertState:
        who = ", ".join(users)
        self.log(
            "level_paged", f"level {number} (loop {loop}) paged: {who}", loop=loop, level=number, users=users
        )
        for user in users:
            rules = self.rules_for(user)
            steps = tuple(
                NotificationStep(user, rule.method, i, self.now + rule.delay, state.cycle, loop, number)
                for i, rule in enumerate(rules)
            )
            self.commands.append(Notify(user, steps))
        return state.changed(
            stage="paging",
            level=number,
            loop=loop,
            escalate_at=self.now + self.policy.levels[number - 1].escalate_after,
            pages=(*state.pages, PagedLevel(loop, number, self.now, users)),
        )

    def resolve(
        self, state: AlertState, message: str, by: str | None, kind: TimelineKind = "resolved"
    ) -> Decision:
        self.log(kind, message, actor=by)
        self.commands.append(CancelPendingNotifications("resolved"))
        done = state.changed(
            status="resolved",
            resolved_at=self.now,
            escalate_at=None,
            retrigger_at=None,
            snoozed_until=None,
            held_until=None,
        )
        return self.finish(done)
