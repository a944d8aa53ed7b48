"""The engine's decide step for one alert: from plain facts to the rows that carry the decision out.

GoAlert's shape (docs/architecture.md, "The engine"): a loader reads everything a batch of decisions
needs into the values below, `plan_alert` decides each alert with no I/O, and a writer applies the
plans in one transaction. `plan_alert` runs the state machine (`pager.core.escalation.decide`) and
turns its commands into alert columns, timeline lines and outbox orders: which address each rule step
pages, and the `cannot_page` line when a person has no usable address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from pager.core.alert import (
    AlertState,
    AppendTimeline,
    CancelPendingNotifications,
    Decision,
    Event,
    NotificationStep,
    Notify,
)
from pager.core.escalation import DecisionInputs, decide
from pager.core.maintenance import Hold
from pager.core.policy import EscalationPolicy, NotificationRule

# While an alert's policy is not loaded (a bad reload, a renamed file) it is retried this often.
MISSING_POLICY_RETRY = timedelta(minutes=1)


@dataclass(frozen=True)
class EffectiveRule:
    """A person's rule step as the engine uses it: the core rule and the address it pages."""

    rule: NotificationRule
    address: str


@dataclass(frozen=True)
class Person:
    """A handle as the engine sees it: the user's id (None: no such user) and their rule steps."""

    user_id: int | None
    steps: tuple[EffectiveRule, ...] = ()

    @cached_property
    def rules(self) -> tuple[NotificationRule, ...]:
        """The rules of the steps, in step order (what the state machine reads)."""
        return tuple(step.rule for step in self.steps)


NO_SUCH_USER = Person(None)


@dataclass(frozen=True)
class ServiceFacts:
    """What a decision reads of a service."""

    id: str
    name: str
    policy_id: str
    runbook: str | None


@dataclass(frozen=True)
class AlertFacts:
    """What a decision reads of an alert; `state` is None for an alert that has never been decided."""

    id: int
    service_id: str
    summary: str
    state: AlertState | None

    @classmethod
    def of(cls, alert_id: int, service_id: str, summary: str, document: Mapping[str, Any]) -> AlertFacts:
        """Facts from the stored columns (`document`: the alert's `escalation_state`, {} when new)."""
        state = AlertState.from_document(document) if document else None
        return cls(alert_id, service_id, summary, state)


@dataclass(frozen=True)
class PageOrder:
    """Make sure an outbox row keyed `key` exists: `step` of a page to `address`, due at `due_at`."""

    key: str
    alert_id: int
    user_id: int | None
    address: str
    due_at: datetime
    step: NotificationStep


@dataclass(frozen=True)
class TimelineLine:
    """One line of an alert's timeline."""

    alert_id: int
    kind: str
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertPlan:
    """What deciding one event for one alert writes; `decision` is None when its policy is not loaded.

    `cancel` (a reason) asks for the alert's pending pages to be cancelled after `pages` are ordered;
    `unreachable` names the people who could not be paged at all, and why (for the log).
    """

    alert_id: int
    columns: Mapping[str, Any]
    timeline: tuple[TimelineLine, ...]
    pages: tuple[PageOrder, ...] = ()
    cancel: str | None = None
    decision: Decision | None = None
    unreachable: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Facts:
    """Everything one batch of decisions reads, loaded before the first of them."""

    services: Mapping[str, ServiceFacts]
    policies: Mapping[str, EscalationPolicy]
    inputs: DecisionInputs
    people: Mapping[str, Person]
    holds: Mapping[str, Hold] = field(default_factory=dict)  # service id -> its maintenance hold now


def plan_alert(alert: AlertFacts, event: Event, now: datetime, facts: Facts) -> AlertPlan:
    """Decide `event` for `alert` at `now` and say what to write (pure)."""
    service = facts.services.get(alert.service_id)
    policy = facts.policies.get(service.policy_id) if service is not None else None
    if policy is None:
        policy_id = service.policy_id if service is not None else "?"
        message = f"escalation policy {policy_id!r} is not loaded; nobody can be paged; retrying in 1 minute"
        line = TimelineLine(alert.id, "policy_missing", message)
        retry: dict[str, Any] = {"next_action_at": now + MISSING_POLICY_RETRY, "updated_at": now}
        return AlertPlan(alert.id, retry, (line,))
    hold = facts.holds.get(alert.service_id)
    inputs = facts.inputs if hold is None else replace(facts.inputs, hold=hold)
    decision = decide(policy, alert.state, event, now, inputs)
    state = decision.state
    columns: dict[str, Any] = state_columns(state)
    if alert.state is not None:
        old = state_columns(alert.state)
        columns = {name: value for name, value in columns.items() if old[name] != value}
    columns = {**columns, "escalation_state": state.to_document(), "updated_at": now}
    timeline: list[TimelineLine] = []
    pages: list[PageOrder] = []
    unreachable: list[tuple[str, str]] = []
    cancel: str | None = None
    for command in decision.commands:
        if isinstance(command, AppendTimeline):
            timeline.append(TimelineLine(alert.id, command.kind, command.message, _details(command)))
        elif isinstance(command, Notify):
            person = facts.people.get(command.user, NO_SUCH_USER)
            if person.steps:
                _order(alert.id, command, person, now, pages, timeline)
            else:
                reason = "no such user" if person.user_id is None else "no contact methods"
                message = f"cannot page {command.user}: {reason}"
                timeline.append(TimelineLine(alert.id, "cannot_page", message, {"user": command.user}))
                unreachable.append((command.user, reason))
        elif isinstance(command, CancelPendingNotifications):
            cancel = command.reason
    plan = AlertPlan(alert.id, columns, tuple(timeline), tuple(pages), cancel, decision, tuple(unreachable))
    return plan


def _order(
    alert_id: int,
    notify: Notify,
    person: Person,
    now: datetime,
    pages: list[PageOrder],
    timeline: list[TimelineLine],
) -> None:
    for step in notify.steps:
        if step.step >= len(person.steps) or person.steps[step.step].rule.method != step.method:
            message = f"cannot page {notify.user} by {step.method}: the rule step is gone"
            timeline.append(
                TimelineLine(alert_id, "cannot_page", message, {"user": notify.user, "step": step.step})
            )
            continue
        address = person.steps[step.step].address
        due_at = max(step.due_at, now)
        pages.append(
            PageOrder(step.idempotency_key(alert_id), alert_id, person.user_id, address, due_at, step)
        )


def state_columns(state: AlertState) -> dict[str, Any]:
    """The alert columns that mirror its state (the document holds the rest)."""
    return {
        "status": state.status,
        "level": state.level,
        "loop": state.loop,
        "next_action_at": state.next_action_at,
        "last_event_at": state.last_event_at,
        "acknowledged_at": state.acknowledged_at,
        "acknowledged_by": state.acknowledged_by,
        "resolved_at": state.resolved_at,
        "resolved_by": state.resolved_by,
    }


def _details(entry: AppendTimeline) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for name in ("loop", "level", "users"):
        value = getattr(entry, name, None)
        if value is not None:
            details[name] = list(value) if isinstance(value, tuple) else value
    return details
