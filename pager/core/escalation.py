"""The escalation state machine: `decide(policy, state, event, now, inputs)`.

Pure: no I/O, no clock, no callbacks. `inputs` is plain data the caller loaded beforehand: who each of
the policy's targets means at `now` and each person's notification rules (`needs_on_call` says when
the first is read at all). It returns the new state, the commands to carry out (page, cancel pending
pages, write the timeline) and the next wake-up, which the caller stores as `next_action_at`.
The values it works on live in pager.core.alert and are re-exported here.
docs/escalation.md describes every rule, including the edge cases and why each went the way it did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pager.core.alert import (
    Ack,
    AlertState,
    AppendTimeline,
    CancelPendingNotifications,
    Command,
    Decision,
    DecisionOutcome,
    DeliveryFailed,
    Escalate,
    Event,
    NotificationStep,
    Notify,
    PagedLevel,
    Resolve,
    Stage,
    Status,
    TimelineKind,
    Timer,
    Trigger,
)
from pager.core.localtime import require_aware
from pager.core.policy import (
    DEFAULT_RULES,
    EscalationPolicy,
    NotificationRule,
    ResolveTargets,
    RulesFor,
    Target,
    default_rules,
)

__all__ = [
    "NO_ONE_RETRY",
    "Ack",
    "AlertState",
    "AppendTimeline",
    "CancelPendingNotifications",
    "Command",
    "Decision",
    "DecisionInputs",
    "DecisionOutcome",
    "DeliveryFailed",
    "Escalate",
    "Event",
    "NotificationStep",
    "Notify",
    "PagedLevel",
    "Resolve",
    "Stage",
    "Status",
    "TimelineKind",
    "Timer",
    "Trigger",
    "decide",
    "format_duration",
    "inputs_at",
    "needs_on_call",
    "targets_of",
]

NO_ONE_RETRY = timedelta(minutes=1)


@dataclass(frozen=True)
class DecisionInputs:
    """What a decision reads besides the policy, the state and the event, loaded before it starts.

    `on_call`: the handles each target of the policy means at the decision's `now` (a schedule role:
    its holder or nobody; a user: that user). `rules`: a person's notification rules in rule-step order;
    someone absent (or with none) is paged by DEFAULT_RULES, and the caller then finds no address.
    """

    on_call: Mapping[Target, tuple[str, ...]] = field(default_factory=dict)
    rules: Mapping[str, tuple[NotificationRule, ...]] = field(default_factory=dict)


def targets_of(policy: EscalationPolicy) -> set[Target]:
    """Every target named by any level of `policy`: what `DecisionInputs.on_call` must cover."""
    return {target for level in policy.levels for target in level.targets}


def needs_on_call(state: AlertState | None, event: Event) -> bool:
    """Whether deciding `event` may walk the ladder (and so read `on_call`): a new alert, a timer,
    an escalation. Acknowledging, resolving, a repeated trigger or a failed delivery never do."""
    if state is None:
        return True
    return state.status != "resolved" and isinstance(event, Timer | Escalate)


def inputs_at(
    policy: EscalationPolicy,
    at: datetime,
    resolve_targets: ResolveTargets,
    rules_for: RulesFor = default_rules,
) -> DecisionInputs:
    """DecisionInputs for `policy` at `at` from a resolver: what a dry run, which has no database, uses."""
    on_call = {target: tuple(resolve_targets((target,), at)) for target in targets_of(policy)}
    people = {handle for handles in on_call.values() for handle in handles}
    return DecisionInputs(on_call, {handle: tuple(rules_for(handle)) for handle in sorted(people)})


def decide(
    policy: EscalationPolicy,
    state: AlertState | None,
    event: Event,
    now: datetime,
    inputs: DecisionInputs,
) -> Decision:
    """Apply `event` at `now` to `state` (None: a new alert, which only a Trigger opens) under `policy`."""
    run = _Run(policy, require_aware(now), inputs)
    if state is None:
        if not isinstance(event, Trigger):
            raise ValueError(f"only a Trigger opens an alert, not {type(event).__name__}")
        opened = AlertState("triggered", "paging", 1, 1, 1, triggered_at=run.now, last_event_at=run.now)
        run.log("triggered", "triggered")
        return run.finish(run.walk(opened, 1, 1))
    if state.status == "resolved":
        return run.after_resolve(state, event)
    match event:
        case Trigger():
            run.log("trigger_repeated", "triggered again; deduplicated into this alert")
            return run.finish(state.changed(last_event_at=run.now))
        case Timer():
            return run.on_timer(state)
        case Ack(by=by):
            return run.on_ack(state, by)
        case Resolve(by=by):
            return run.resolve(
                state.changed(resolved_by=by, last_event_at=run.now), f"resolved by {_who(by)}", by
            )
        case Escalate(by=by):
            return run.on_escalate(state, by)
        case DeliveryFailed():
            return run.on_delivery_failed(state, event)
    raise TypeError(f"not an escalation event: {event!r}")


def format_duration(length: timedelta | None) -> str:
    """A duration the way policies write it: `90s` -> `1m30s`, `2h`, `1d4h`."""
    seconds = int(length.total_seconds()) if length is not None else 0
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"


def _who(by: str | None) -> str:
    return by if by is not None else "integration event"


def _dedup(handles: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(h for h in handles if h))


class _Run:
    """One decision in progress: the inputs and the commands gathered so far."""

    def __init__(self, policy: EscalationPolicy, now: datetime, inputs: DecisionInputs) -> None:
        self.policy = policy
        self.now = now
        self.inputs = inputs
        self.commands: list[Command] = []

    def on_call(self, targets: tuple[Target, ...]) -> tuple[str, ...]:
        try:
            return _dedup([handle for target in targets for handle in self.inputs.on_call[target]])
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

    # -- events on an open alert

    def on_timer(self, state: AlertState) -> Decision:
        now = self.now
        if state.auto_resolve_at is not None and now >= state.auto_resolve_at:
            message = f"auto-resolved: no new event for {format_duration(self.policy.auto_resolve)}"
            return self.resolve(state.changed(resolved_by=None), message, None, kind="auto_resolved")
        if state.status == "acknowledged" and state.retrigger_at is not None and now >= state.retrigger_at:
            timeout = format_duration(self.policy.ack_timeout)
            message = f"not resolved {timeout} after the acknowledgement; triggered again from level 1"
            self.log("retriggered", message)
            fresh = state.changed(
                status="triggered",
                cycle=state.cycle + 1,
                acknowledged_at=None,
                acknowledged_by=None,
                retrigger_at=None,
                pages=(),
            )
            return self.finish(self.walk(fresh, 1, 1))
        if state.status == "triggered" and state.escalate_at is not None and now >= state.escalate_at:
            if state.stage == "no_one_on_call":
                return self.finish(self.walk(state, 1, state.loop, quiet=True))
            return self.finish(self.walk(state, state.level + 1, state.loop))
        return self.finish(state, "ignored")

    def on_ack(self, state: AlertState, by: str | None) -> Decision:
        if state.status == "acknowledged":
            message = (
                f"acknowledged again by {_who(by)}; already acknowledged by {_who(state.acknowledged_by)}"
            )
            self.log("ignored", message, actor=by)
            return self.finish(state, "already_acknowledged")
        self.log("acknowledged", f"acknowledged by {_who(by)}", actor=by)
        self.commands.append(CancelPendingNotifications("acknowledged"))
        timeout = self.policy.ack_timeout
        acked = state.changed(
            status="acknowledged",
            acknowledged_at=self.now,
            acknowledged_by=by,
            escalate_at=None,
            retrigger_at=self.now + timeout if timeout > timedelta(0) else None,
            last_event_at=self.now,
        )
        return self.finish(acked)

    def resolve(
        self, state: AlertState, message: str, by: str | None, kind: TimelineKind = "resolved"
    ) -> Decision:
        self.log(kind, message, actor=by)
        self.commands.append(CancelPendingNotifications("resolved"))
        done = state.changed(status="resolved", resolved_at=self.now, escalate_at=None, retrigger_at=None)
        return self.finish(done)

    def on_escalate(self, state: AlertState, by: str | None) -> Decision:
        self.log("escalated", f"escalated by {_who(by)}", actor=by)
        state = state.changed(
            status="triggered",
            acknowledged_at=None,
            acknowledged_by=None,
            retrigger_at=None,
            last_event_at=self.now,
        )
        if state.stage == "paging":
            return self.finish(self.walk(state, state.level + 1, state.loop, manual=True))
        if state.stage == "exhausted":
            state = state.changed(cycle=state.cycle + 1, pages=())
        return self.finish(self.walk(state, 1, state.loop, manual=True))

    def on_delivery_failed(self, state: AlertState, failed: DeliveryFailed) -> Decision:
        """Bring the user's next not-yet-due method of that page forward to now."""
        base = f"{failed.method} to {failed.user} failed" + (f" ({failed.reason})" if failed.reason else "")
        where = {"loop": failed.loop, "level": failed.level, "users": (failed.user,)}
        page = next(
            (
                p
                for p in state.pages
                if (p.loop, p.level) == (failed.loop, failed.level) and failed.user in p.users
            ),
            None,
        )
        if state.status != "triggered" or failed.cycle != state.cycle or page is None:
            self.log("delivery_failed", f"{base}; no fallback, the page is no longer active", **where)
            return self.finish(state)
        rules = self.rules_for(failed.user)
        later = [
            (page.at + rule.delay, i, rule.method)
            for i, rule in enumerate(rules)
            if rule.method != failed.method and page.at + rule.delay > self.now
        ]
        if not later:
            self.log("delivery_failed", f"{base}; no further method for {failed.user}", **where)
            return self.finish(state)
        _, index, method = min(later)
        self.log("delivery_failed", f"{base}; falling back to {method} now", **where)
        step = NotificationStep(failed.user, method, index, self.now, state.cycle, failed.loop, failed.level)
        self.commands.append(Notify(failed.user, (step,)))
        return self.finish(state)

    # -- a resolved alert is final

    def after_resolve(self, state: AlertState, event: Event) -> Decision:
        match event:
            case Ack(by=by) | Resolve(by=by) | Escalate(by=by):
                action = type(event).__name__.lower()
                self.log(
                    "ignored", f"{action} by {_who(by)} ignored: the alert is already resolved", actor=by
                )
            case DeliveryFailed():
                reason = f" ({event.reason})" if event.reason else ""
                message = f"{event.method} to {event.user} failed{reason}; the alert is already resolved"
                self.log("delivery_failed", message, loop=event.loop, level=event.level, users=(event.user,))
            case Timer():
                return self.finish(state, "ignored")
        return self.finish(state, "already_resolved")
