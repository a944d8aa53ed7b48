"""The escalation state machine: `decide(policy, state, event, now, inputs)`.

Pure: no I/O, no clock, no callbacks. `inputs` is plain data the caller loaded beforehand: who each of
the policy's targets means at `now` and each person's notification rules (`needs_on_call` says when
the first is read at all). It returns the new state, the commands to carry out (page, cancel pending
pages, write the timeline) and the next wake-up, which the caller stores as `next_action_at`.
The values it works on live in pager.core.alert and are re-exported here.
docs/escalation.md describes every rule, including the edge cases and why each went the way it did.
"""

from __future__ import annotations

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
    HoldEnded,
    NotificationStep,
    Notify,
    PagedLevel,
    Resolve,
    Snooze,
    Stage,
    Status,
    TimelineKind,
    Timer,
    Trigger,
)
from pager.core.durations import format_duration
from pager.core.ladder import NO_ONE_RETRY, DecisionInputs, LadderRun, who
from pager.core.localtime import format_instant, require_aware
from pager.core.maintenance import Hold
from pager.core.policy import EscalationPolicy, ResolveTargets, RulesFor, Target, default_rules

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
    "HoldEnded",
    "NotificationStep",
    "Notify",
    "PagedLevel",
    "Resolve",
    "Snooze",
    "Stage",
    "Status",
    "TimelineKind",
    "Timer",
    "Trigger",
    "decide",
    "format_duration",
    "inputs_at",
    "needs_hold",
    "needs_on_call",
    "targets_of",
]


def targets_of(policy: EscalationPolicy) -> set[Target]:
    """Every target named by any level of `policy`: what `DecisionInputs.on_call` must cover."""
    return {target for level in policy.levels for target in level.targets}


def needs_on_call(state: AlertState | None, event: Event) -> bool:
    """Whether deciding `event` may walk the ladder (and so read `on_call`): a new alert, a timer,
    an escalation. Acknowledging, resolving, a repeated trigger or a failed delivery never do."""
    if state is None:
        return True
    return state.status != "resolved" and isinstance(event, Timer | Escalate | HoldEnded)


def needs_hold(state: AlertState | None, event: Event) -> bool:
    """Whether deciding `event` reads `inputs.hold` (the maintenance hold on the alert's service):
    when the alert opens, and when the hold of a suppressed alert may end."""
    if state is None:
        return True
    return state.status == "suppressed" and isinstance(event, Timer | HoldEnded)


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
        hold = inputs.hold
        if hold is not None and hold.until > run.now:
            return run.finish(run.suppress(opened, hold))
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
                state.changed(resolved_by=by, last_event_at=run.now), f"resolved by {who(by)}", by
            )
        case Escalate(by=by):
            return run.on_escalate(state, by)
        case DeliveryFailed():
            return run.on_delivery_failed(state, event)
        case Snooze(length=length, by=by):
            return run.on_snooze(state, length, by)
        case HoldEnded(by=by, window=window):
            if state.status != "suppressed":
                return run.finish(state, "ignored")
            return run.release(state, by, window)
    raise TypeError(f"not an escalation event: {event!r}")


class _Run(LadderRun):
    """One decision: the ladder walk plus what each event does to an open alert."""

    # -- events on an open alert

    def on_timer(self, state: AlertState) -> Decision:
        now = self.now
        if state.auto_resolve_at is not None and now >= state.auto_resolve_at:
            message = f"auto-resolved: no new event for {format_duration(self.policy.auto_resolve)}"
            return self.resolve(state.changed(resolved_by=None), message, None, kind="auto_resolved")
        if state.status == "suppressed" and state.held_until is not None and now >= state.held_until:
            return self.release(state, None, None)
        if state.status == "acknowledged" and state.retrigger_at is not None and now >= state.retrigger_at:
            if state.snoozed_until is not None:
                message = (
                    f"snooze by {who(state.acknowledged_by)} ended; "
                    "not resolved, so paging restarted from level 1"
                )
                self.log("snooze_ended", message)
            else:
                timeout = format_duration(self.policy.ack_timeout)
                message = f"not resolved {timeout} after the acknowledgement; triggered again from level 1"
                self.log("retriggered", message)
            fresh = state.changed(
                status="triggered",
                cycle=state.cycle + 1,
                acknowledged_at=None,
                acknowledged_by=None,
                retrigger_at=None,
                snoozed_until=None,
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
            message = f"acknowledged again by {who(by)}; already acknowledged by {who(state.acknowledged_by)}"
            self.log("ignored", message, actor=by)
            return self.finish(state, "already_acknowledged")
        self.log("acknowledged", f"acknowledged by {who(by)}", actor=by)
        self.commands.append(CancelPendingNotifications("acknowledged"))
        timeout = self.policy.ack_timeout
        acked = state.changed(
            status="acknowledged",
            acknowledged_at=self.now,
            acknowledged_by=by,
            escalate_at=None,
            retrigger_at=self.now + timeout if timeout > timedelta(0) else None,
            last_event_at=self.now,
            **_NO_HOLD,
        )
        return self.finish(acked)

    def on_snooze(self, state: AlertState, length: timedelta, by: str | None) -> Decision:
        """Acknowledged now (again, by whoever snoozes), and triggered afresh when the snooze ends."""
        if length <= timedelta(0):
            raise ValueError("a snooze must last a positive time")
        until = self.now + length
        message = (
            f"snoozed by {who(by)} for {format_duration(length)}, until {format_instant(until)}; "
            "paging restarts from level 1 then unless resolved"
        )
        self.log("snoozed", message, actor=by)
        if state.status != "acknowledged":
            self.commands.append(CancelPendingNotifications("acknowledged"))
        snoozed = state.changed(
            status="acknowledged",
            acknowledged_at=self.now,
            acknowledged_by=by,
            escalate_at=None,
            retrigger_at=until,
            snoozed_until=until,
            last_event_at=self.now,
            **_NO_HOLD,
        )
        return self.finish(snoozed)

    # -- maintenance holds

    def suppress(self, state: AlertState, hold: Hold) -> AlertState:
        """A new alert while a window holds its service: stored, paging nobody until the hold ends."""
        until = format_instant(hold.until)
        message = f"{hold.name} holds this service until {until}: suppressed, nobody paged"
        self.log("suppressed", message)
        return state.changed(
            status="suppressed", held_until=hold.until, held_by=hold.name, held_window=hold.window_id
        )

    def release(self, state: AlertState, by: str | None, ended: str | None) -> Decision:
        """A window holding a suppressed alert ended (`ended` names it when it ended early, else it is
        the alert's own hold): another window may hold it still, else page level 1."""
        hold = self.inputs.hold
        what = ended or state.held_by
        early = f" early by {by}" if by is not None else ""
        if hold is not None and hold.until > self.now:
            if (hold.name, hold.until) == (state.held_by, state.held_until):
                return self.finish(state, "ignored")  # the window that ended did not hold this alert
            message = f"{what} ended{early}; still held by {hold.name} until {format_instant(hold.until)}"
            self.log("suppressed", message, actor=by)
            kept = state.changed(held_until=hold.until, held_by=hold.name, held_window=hold.window_id)
            return self.finish(kept)
        self.log("hold_ended", f"{what} ended{early}; paging starts at level 1", actor=by)
        return self.finish(self.walk(state.changed(status="triggered", **_NO_HOLD), 1, 1))

    def on_escalate(self, state: AlertState, by: str | None) -> Decision:
        self.log("escalated", f"escalated by {who(by)}", actor=by)
        held = state.status == "suppressed"
        state = state.changed(
            status="triggered",
            acknowledged_at=None,
            acknowledged_by=None,
            retrigger_at=None,
            snoozed_until=None,
            last_event_at=self.now,
            **_NO_HOLD,
        )
        if held:  # nobody was paged yet: escalating means paging the first level now
            return self.finish(self.walk(state, 1, state.loop, manual=True))
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
            case Ack(by=by) | Resolve(by=by) | Escalate(by=by) | Snooze(by=by):
                action = type(event).__name__.lower()
                self.log("ignored", f"{action} by {who(by)} ignored: the alert is already resolved", actor=by)
            case DeliveryFailed():
                reason = f" ({event.reason})" if event.reason else ""
                message = f"{event.method} to {event.user} failed{reason}; the alert is already resolved"
                self.log("delivery_failed", message, loop=event.loop, level=event.level, users=(event.user,))
            case Timer() | HoldEnded():
                return self.finish(state, "ignored")
        return self.finish(state, "already_resolved")


# What every event that ends a maintenance hold clears.
_NO_HOLD: dict[str, Any] = {"held_until": None, "held_by": None, "held_window": None}
