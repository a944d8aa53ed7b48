"""One transaction's worth of escalation work: decide with the pure core, write what it decided.

GoAlert's shape: load what the decision needs (alert state, policy, who is on call, users' rules),
call `pager.core.escalation.decide`, then apply its result — state columns, timeline rows, outbox
rows, cancellations — inside the caller's transaction, so either all of it happens or none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

from pager.core.alert import (
    AlertState,
    AppendTimeline,
    CancelPendingNotifications,
    Decision,
    Event,
    NotificationStep,
    Notify,
)
from pager.core.escalation import decide
from pager.core.model import Override
from pager.core.page_text import email_body, email_subject, sms_text, voice_text
from pager.core.policy import EscalationPolicy, NotificationRule, ResolveTargets, Target, on_call_resolver
from pager.db import trigger_queries
from pager.db.alerts import DueAlert, add_timeline_entry, insert_timeline_entries
from pager.db.catalog import service_column_rows
from pager.db.outbox import cancel_pending_outbox, upsert_outbox
from pager.db.row_updates import update_rows
from pager.db.tables import Alert, Service
from pager.services.calendars.overrides import overrides_for
from pager.services.people.users import EffectiveRule, effective_rules, everyones_rules
from pager.services.phone.email_links import LinkAction, link_url, make_link_token
from pager.services.runtime import Runtime
from pager.settings import signing_key

log = logging.getLogger("pager.engine")

# While an alert's policy is not loaded (a bad reload, a renamed file) it is retried this often.
MISSING_POLICY_RETRY = timedelta(minutes=1)


@dataclass(frozen=True)
class Directory:
    """Every user's id and rule steps and every service, read once for many decisions.

    An escalation pass loads it with its first batch and reuses it for the rest; a handle or
    service missing from it (added since) is still looked up, so nothing new is ever refused.
    """

    user_ids: dict[str, int]
    rules: dict[str, list[EffectiveRule]]
    services: dict[str, Service | ServiceInfo]

    @classmethod
    def load(cls, session: Session) -> Directory:
        user_ids, rules = everyones_rules(session)
        return cls(user_ids, rules, {row[0]: ServiceInfo(*row) for row in service_column_rows(session)})


@dataclass(frozen=True)
class ServiceInfo:
    """What a decision reads of a service (plain values: a table model costs far more to build)."""

    id: str
    name: str
    policy_id: str
    runbook: str | None


class AlertTransaction:
    """Decides and applies events for alerts inside one open session; caches per transaction.

    Alerts come as ORM objects (one-off actions: the object is updated) or as claimed `DueAlert`
    values (the escalation batch: their new columns are buffered). With a `Directory` (a batch) or
    `bulk=True`, timeline lines are buffered too. Buffers are written together — alert columns,
    timeline, pages, one executemany each — before the transaction commits, or by `write_buffered`.
    """

    def __init__(
        self,
        session: Session,
        runtime: Runtime,
        now: datetime,
        directory: Directory | None = None,
        *,
        bulk: bool = False,
    ) -> None:
        self.session = session
        self.runtime = runtime
        self.now = now
        self._directory = directory
        self._user_ids: dict[str, int | None] = {}
        self._rules: dict[str, list[EffectiveRule]] = {}
        self._overrides: dict[str, list[Override]] = {}
        self._services: dict[str, Service | None] = {}
        self._alert_changes: list[dict[str, Any]] = []
        self._timeline: list[dict[str, Any]] | None = [] if bulk or directory is not None else None
        self._pages: dict[str, dict[str, Any]] = {}  # outbox rows to write, by idempotency key
        event.listen(session, "before_commit", self._before_commit)

    # -- loading -----------------------------------------------------------------------------------

    def service(self, service_id: str) -> Service | ServiceInfo | None:
        if self._directory is not None and service_id in self._directory.services:
            return self._directory.services[service_id]
        if service_id not in self._services:
            self._services[service_id] = self.session.get(Service, service_id)
        return self._services[service_id]

    def policy_for(self, alert: Alert | DueAlert) -> EscalationPolicy | None:
        service = self.service(alert.service_id)
        return None if service is None else self.runtime.config.policies.get(service.policy_id)

    def rules(self, handle: str) -> list[EffectiveRule]:
        if self._directory is not None and handle in self._directory.rules:
            return self._directory.rules[handle]
        if handle not in self._rules:
            user_id = self.user_id(handle)
            self._rules[handle] = [] if user_id is None else effective_rules(self.session, user_id)
        return self._rules[handle]

    def user_id(self, handle: str) -> int | None:
        """The user's id, or None when there is no such user."""
        if self._directory is not None and handle in self._directory.user_ids:
            return self._directory.user_ids[handle]
        if handle not in self._user_ids:
            self._user_ids[handle] = trigger_queries.user_id_of(self.session, handle)
        return self._user_ids[handle]

    def rules_for(self, handle: str) -> list[NotificationRule]:
        return [step.rule for step in self.rules(handle)]

    def resolver(self, policy: EscalationPolicy) -> ResolveTargets:
        """Who is on call for a level's targets; overrides are read only when a decision asks."""
        resolve: ResolveTargets | None = None

        def lazy(targets: tuple[Target, ...], at: datetime) -> Sequence[str]:
            nonlocal resolve
            if resolve is None:
                resolve = on_call_resolver(self.runtime.config.schedules, self._overrides_for(policy))
            return resolve(targets, at)

        return lazy

    def _overrides_for(self, policy: EscalationPolicy) -> list[Override]:
        overrides: list[Override] = []
        for schedule_id in sorted(_schedules_of(policy)):
            if schedule_id not in self._overrides:
                window_end = self.now + timedelta(seconds=1)
                self._overrides[schedule_id] = overrides_for(self.session, schedule_id, self.now, window_end)
            overrides.extend(self._overrides[schedule_id])
        return overrides

    # -- deciding and applying ---------------------------------------------------------------------

    def handle(self, alert: Alert | DueAlert, event: Event) -> Decision | None:
        """Decide `event` for `alert` and apply it; None when the alert's policy is not loaded."""
        policy = self.policy_for(alert)
        if policy is None:
            self._policy_missing(alert)
            return None
        state = AlertState.from_document(alert.escalation_state) if alert.escalation_state else None
        decision = decide(policy, state, event, self.now, self.resolver(policy), self.rules_for)
        self.apply(alert, decision, state)
        return decision

    def apply(self, alert: Alert | DueAlert, decision: Decision, before: AlertState | None = None) -> None:
        """Write `decision` for `alert`: state columns, timeline, outbox rows, cancellations.

        Given the state `before` the decision, only the state columns that changed are written.
        """
        assert alert.id is not None
        state = decision.state
        columns = _state_columns(state)
        if before is not None:
            old = _state_columns(before)
            columns = {name: value for name, value in columns.items() if old[name] != value}
        self._set_columns(alert, **columns, escalation_state=state.to_document(), updated_at=self.now)
        for command in decision.commands:
            if isinstance(command, AppendTimeline):
                self.timeline(alert.id, command.kind, command.message, _details(command))
            elif isinstance(command, Notify):
                self._queue(alert, command)
            elif isinstance(command, CancelPendingNotifications):
                self.write_buffered()  # rows queued earlier in this transaction are pending too
                cancelled = cancel_pending_outbox(self.session, alert.id, self.now)
                if cancelled:
                    self.timeline(
                        alert.id,
                        "pages_cancelled",
                        f"{cancelled} pending page(s) cancelled ({command.reason})",
                    )
        if not log.isEnabledFor(logging.INFO):  # its arguments cost more than the check
            return
        log.info(
            "alert_decided alert=%d status=%s level=%d loop=%d next_action_at=%s outcome=%s",
            alert.id,
            state.status,
            state.level,
            state.loop,
            state.next_action_at.isoformat() if state.next_action_at else "-",
            decision.outcome,
        )

    def timeline(self, alert_id: int, kind: str, message: str, data: dict[str, Any] | None = None) -> None:
        if self._timeline is None:
            add_timeline_entry(
                self.session, alert_id=alert_id, at=self.now, kind=kind, message=message, data=data
            )
        else:
            entry = {"alert_id": alert_id, "at": self.now, "kind": kind, "message": message}
            self._timeline.append({**entry, "data": data or {}})

    def retry_later(self, alert: Alert | DueAlert, delay: timedelta) -> None:
        """Move the alert's timer `delay` on, leaving everything else as it is."""
        self._set_columns(alert, next_action_at=self.now + delay, updated_at=self.now)

    def _set_columns(self, alert: Alert | DueAlert, **columns: Any) -> None:
        if isinstance(alert, Alert):
            for name, value in columns.items():
                setattr(alert, name, value)
            self.session.add(alert)
        else:
            self._alert_changes.append({"id": alert.id, **columns})

    def _policy_missing(self, alert: Alert | DueAlert) -> None:
        assert alert.id is not None
        service = self.service(alert.service_id)
        policy_id = service.policy_id if service is not None else "?"
        self.timeline(
            alert.id,
            "policy_missing",
            f"escalation policy {policy_id!r} is not loaded; nobody can be paged; retrying in 1 minute",
        )
        self.retry_later(alert, MISSING_POLICY_RETRY)
        log.error("policy_missing alert=%d policy=%s", alert.id, policy_id)

    def _queue(self, alert: Alert | DueAlert, notify: Notify) -> None:
        assert alert.id is not None
        rules = self.rules(notify.user)
        if not rules:
            reason = "no such user" if self.user_id(notify.user) is None else "no contact methods"
            self.timeline(
                alert.id, "cannot_page", f"cannot page {notify.user}: {reason}", {"user": notify.user}
            )
            log.error("cannot_page alert=%d user=%s reason=%s", alert.id, notify.user, reason)
            return
        for step in notify.steps:
            if step.step >= len(rules) or rules[step.step].rule.method != step.method:
                self.timeline(
                    alert.id,
                    "cannot_page",
                    f"cannot page {notify.user} by {step.method}: the rule step is gone",
                    {"user": notify.user, "step": step.step},
                )
                continue
            self._queue_step(alert, step, rules[step.step].address)

    def _queue_step(self, alert: Alert | DueAlert, step: NotificationStep, address: str) -> None:
        assert alert.id is not None
        key = step.idempotency_key(alert.id)
        due_at = max(step.due_at, self.now)
        queued = self._pages.get(key)
        if queued is not None:
            queued["due_at"] = min(queued["due_at"], due_at)
            return
        subject, body = self._body(alert, step)
        self._pages[key] = {
            "idempotency_key": key,
            "alert_id": alert.id,
            "user_id": self.user_id(step.user),
            "user_handle": step.user,
            "cycle": step.cycle,
            "loop": step.loop,
            "level": step.level,
            "step": step.step,
            "method": step.method,
            "address": address,
            "subject": subject,
            "body": body,
            "status": "pending",
            "due_at": due_at,
            "attempts": 0,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def write_buffered(self) -> None:
        """Write what is buffered: alert columns, timeline lines, then outbox rows.

        Pages are upserted: new keys inserted, existing ones untouched unless still pending and now
        due earlier (a delivery-failure fallback brings a step forward).
        """
        if self._alert_changes:
            update_rows(self.session, Alert, self._alert_changes)
            self._alert_changes = []
        if self._timeline:
            insert_timeline_entries(self.session, self._timeline)
            self._timeline = []
        if self._pages:
            rows, self._pages = list(self._pages.values()), {}
            upsert_outbox(self.session, rows)

    def discard_buffered(self) -> None:
        """Forget what is buffered: its decision was rolled back (a failed savepoint)."""
        self._alert_changes = []
        self._timeline = [] if self._timeline is not None else None
        self._pages = {}

    def _before_commit(self, _session: Session) -> None:
        self.write_buffered()

    def _body(self, alert: Alert | DueAlert, step: NotificationStep) -> tuple[str, str]:
        """The page's subject ("" but for email) and text."""
        assert alert.id is not None
        service = self.service(alert.service_id)
        name = service.name if service is not None else alert.service_id
        if step.method == "sms":
            return "", sms_text(alert.id, alert.service_id, alert.summary)
        if step.method == "voice":
            return "", voice_text(alert.id, name, alert.summary)
        subject = email_subject(alert.id, alert.service_id, alert.summary)
        runbook = service.runbook if service else None
        secret, public = signing_key(self.runtime.settings), self.runtime.settings.public_url
        if secret is None:
            # Only a command-line process can get here (serve and worker refuse to start without a
            # key): the page still goes out, without links nobody could check.
            log.warning("email_links_omitted alert=%d reason=no_usable_secret_key", alert.id)
            return subject, email_body(alert.id, name, alert.summary, runbook, links=False)
        actions: tuple[tuple[str, LinkAction], ...] = (("Acknowledge", "ack"), ("Resolve", "resolve"))
        links = [
            f"{label}: {link_url(public, make_link_token(secret, alert.id, action, step.user))}"
            for label, action in actions
        ]
        body = email_body(alert.id, name, alert.summary, runbook)
        return subject, "\n".join([body, "", *links])


def _state_columns(state: AlertState) -> dict[str, Any]:
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


def _schedules_of(policy: EscalationPolicy) -> set[str]:
    return {t.ref for level in policy.levels for t in level.targets if t.kind == "schedule"}


def _details(entry: AppendTimeline) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for name in ("loop", "level", "users"):
        value = getattr(entry, name, None)
        if value is not None:
            details[name] = list(value) if isinstance(value, tuple) else value
    return details
