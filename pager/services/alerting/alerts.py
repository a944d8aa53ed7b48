"""Alert use cases: trigger with dedup, acknowledge, resolve, escalate, and reading alerts back.

Each call is one transaction (`write_triggers` writes many triggers in one: group commit). The
decision itself is the pure core's (pager.core.escalation); this module finds the alert, locks it,
and hands the event to an AlertTransaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session

from pager.core.alert import Ack, Escalate, Event, Resolve, Snooze, Trigger
from pager.core.paging_plan import ServiceFacts
from pager.db import trigger_queries
from pager.db.alerts import DueAlert, find_open_alert, lock_alert, newest_alerts, timeline_of
from pager.db.session import notify_queue_full, session_scope
from pager.db.tables import ALERT_STATUSES, Alert, TimelineEntry
from pager.services.alerting.paging import AlertTransaction
from pager.services.alerting.trigger_group import AlertInGroup, SharedByTriggers
from pager.services.errors import InvalidInput, NotFound
from pager.services.operations.wakeup import notify_on_commit, wake_workers
from pager.services.runtime import Runtime

log = logging.getLogger("pager.alerts")

AlertAction = Literal["ack", "resolve", "escalate", "snooze"]
# How long a snooze may last, in minutes (a day at most: longer is a maintenance window, not a snooze).
SNOOZE_MINUTES = (1, 1440)
SEVERITIES = ("critical", "error", "warning", "info")
MAX_SUMMARY = 1024


@dataclass(frozen=True)
class AlertOutcome:
    """What a call did: the alert it touched, whether it opened it, and how the event was taken."""

    alert_id: int
    dedup_key: str
    created: bool
    outcome: str


def snooze_length(minutes: int) -> timedelta:
    """A snooze of `minutes`, or InvalidInput outside SNOOZE_MINUTES."""
    low, high = SNOOZE_MINUTES
    if not low <= minutes <= high:
        raise InvalidInput(f"a snooze lasts {low} to {high} minutes, not {minutes}")
    return timedelta(minutes=minutes)


def _event(action: AlertAction, by: str | None, minutes: int | None) -> Event:
    if action == "snooze":
        if minutes is None:
            raise InvalidInput("a snooze needs its length in minutes")
        return Snooze(snooze_length(minutes), by)
    if action == "ack":
        return Ack(by)
    if action == "resolve":
        return Resolve(by)
    return Escalate(by)


def trigger_alert(
    runtime: Runtime,
    *,
    service_id: str,
    summary: str,
    now: datetime,
    dedup_key: str | None = None,
    severity: str = "critical",
    source: str = "",
    details: dict[str, Any] | None = None,
) -> AlertOutcome:
    """Open an alert, or count a repeat into the open alert with the same dedup key (pages nobody)."""
    request = TriggerRequest.build(
        service_id=service_id,
        summary=summary,
        now=now,
        dedup_key=dedup_key,
        severity=severity,
        source=source,
        details=details,
    )
    outcome = write_trigger(runtime, request)
    if outcome is None:
        raise NotFound(f"no service {service_id!r}")
    return outcome


# A trigger's result: the outcome, None for an unknown service, or the exception that failed it.
TriggerResult = AlertOutcome | Exception | None


@dataclass(frozen=True)
class TriggerRequest:
    """One trigger, checked and normalized (`build`), for the service with `service_id` or the one
    holding `integration_key` (exactly one is set; a key is looked up in the writing transaction, so
    a key rotated away a moment ago never opens an alert)."""

    service_id: str | None
    integration_key: str | None
    summary: str
    now: datetime
    dedup_key: str
    severity: str
    source: str
    details: dict[str, Any] | None

    @classmethod
    def build(
        cls,
        *,
        service_id: str | None = None,
        integration_key: str | None = None,
        summary: str,
        now: datetime,
        dedup_key: str | None = None,
        severity: str = "critical",
        source: str = "",
        details: dict[str, Any] | None = None,
    ) -> TriggerRequest:
        """The request, or InvalidInput (blank summary, unknown severity); no dedup key gets a fresh one."""
        if (service_id is None) == (integration_key is None):
            raise ValueError("pass exactly one of service_id and integration_key")
        summary = " ".join(summary.split())
        if not summary:
            raise InvalidInput("summary must not be empty")
        if severity not in SEVERITIES:
            raise InvalidInput(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        key = dedup_key or uuid.uuid4().hex
        return cls(service_id, integration_key, summary[:MAX_SUMMARY], now, key, severity, source, details)


def write_trigger(runtime: Runtime, request: TriggerRequest) -> AlertOutcome | None:
    """Write one trigger in a transaction of its own; None when there is no such service."""
    counted_into_other = False
    wake_on_commit = True
    while True:
        try:
            with session_scope(runtime.engine) as session:
                outcome = _write_trigger(session, runtime, request, SharedByTriggers())
                created = outcome is not None and outcome.created
                notified = created and wake_on_commit and notify_on_commit(session, runtime.waker, "delivery")
        except IntegrityError:
            # Another transaction opened this dedup key between our look-up and insert: count into it.
            if counted_into_other:
                raise
            counted_into_other = True
            continue
        except DBAPIError as exc:
            # Postgres refuses to commit a NOTIFY once its queue is full (a listener stalled for
            # days): the trigger is written again without it, the wake-up sent after the commit.
            if not (wake_on_commit and notify_queue_full(exc)):
                raise
            log.warning("wake_on_commit_refused reason=%s; writing the trigger without it", exc.orig)
            wake_on_commit = False
            continue
        if created:
            _wake_worker(runtime, notified)
        return outcome


def write_triggers(runtime: Runtime, requests: Sequence[TriggerRequest]) -> list[TriggerResult]:
    """Write many triggers in one transaction and one commit (group commit); each one's result, in order.

    All of them are committed when this returns. If anything fails, nothing of the group is kept and
    each trigger is written again in a transaction of its own, so a failure costs only the trigger
    that caused it (its exception is its result).
    """
    if len(requests) > 1:
        try:
            with session_scope(runtime.engine) as session:
                trigger_queries.lock_dedup_keys(session, [request.dedup_key for request in requests])
                shared = SharedByTriggers(defer_writes=True)
                # What the group reads (overrides) covers every trigger's instant, read once.
                shared.facts.until = max(request.now for request in requests)
                _read_group_alerts(session, requests, shared)
                outcomes: list[TriggerResult] = [
                    _write_trigger(session, runtime, request, shared) for request in requests
                ]
                shared.write_counts(session)
                created = any(isinstance(outcome, AlertOutcome) and outcome.created for outcome in outcomes)
                notified = created and notify_on_commit(session, runtime.waker, "delivery")
        except Exception:
            log.warning("trigger_group_failed triggers=%d; writing them one by one", len(requests))
        else:
            if created:
                _wake_worker(runtime, notified)
            return outcomes
    results: list[TriggerResult] = []
    for request in requests:
        try:
            results.append(write_trigger(runtime, request))
        except Exception as exc:
            results.append(exc)
    return results


def trigger_in_transaction(
    session: Session, runtime: Runtime, request: TriggerRequest
) -> AlertOutcome | None:
    """One trigger in the caller's transaction (None: no such service). The caller commits, then
    wakes the worker (`wake_worker`) when the outcome says an alert was opened."""
    return _write_trigger(session, runtime, request, SharedByTriggers())


def _write_trigger(
    session: Session, runtime: Runtime, request: TriggerRequest, shared: SharedByTriggers
) -> AlertOutcome | None:
    # Plain statements compiled once and the alert as plain values (DueAlert): the ORM's per-object
    # work was most of a trigger's CPU. What the decision buffers (state columns, timeline, pages) is
    # written at the end, or for a group when it commits (one statement per table for all of its
    # triggers); a later trigger of the same alert in a group is decided from the group's copy
    # (`SharedByTriggers.opened`), never from a row its buffered writes have not reached.
    now, key = request.now, request.dedup_key
    service = _service_of(session, request, shared)
    if service is None:
        return None
    # The shared facts hand the decision this service (no second read) and whatever earlier triggers
    # of this transaction read; anything else is read as usual, then kept for the next.
    shared.facts.services[service.id] = service
    work = shared.transaction(session, runtime, now)
    in_group = shared.opened.get((service.id, key))
    if in_group is not None:  # its row is locked and as this group left it: counted at the end
        in_group.repeat(now, request.details)
        alert = DueAlert(in_group.id, service.id, in_group.summary, in_group.state)
        outcome = AlertOutcome(in_group.id, key, False, "deduplicated")
    elif isinstance(open_alert := shared.open_alert(session, service.id, key), trigger_queries.OpenAlert):
        state = open_alert.escalation_state
        alert = DueAlert(open_alert.id, service.id, open_alert.summary, state)
        outcome = AlertOutcome(open_alert.id, key, False, "deduplicated")
        in_group = AlertInGroup(open_alert.id, open_alert.summary, open_alert.details, state, now)
        in_group.repeat(now, request.details)
    else:  # no open alert: the row _read_group_alerts inserted for this trigger, or a new one
        if open_alert is None:
            open_alert = trigger_queries.insert_alert(session, **_new_alert_columns(service.id, request))
        alert_id = open_alert
        alert = DueAlert(alert_id, service.id, request.summary, {})
        outcome = AlertOutcome(alert_id, key, True, "triggered")
        in_group = AlertInGroup(alert_id, request.summary, request.details or {}, {}, now)
    if (document := work.handle_for_state(alert, Trigger())) is not None:
        in_group.state = document
    shared.opened[(service.id, key)] = in_group
    if not shared.defer_writes:  # a group's are written when it commits (AlertWriter, write_counts)
        work.write_buffered()
        shared.write_counts(session)
    return outcome


def _service_of(session: Session, request: TriggerRequest, shared: SharedByTriggers) -> ServiceFacts | None:
    lookup = (request.service_id, request.integration_key)
    if lookup not in shared.services:  # checked in this transaction, which every write here is part of
        # The service's maintenance windows come with its row: a new alert reads its hold.
        now = request.now
        found = trigger_queries.find_service_and_windows(session, now, service_id=lookup[0], key=lookup[1])
        shared.services[lookup] = None if found is None else ServiceFacts(*found[0])
        if found is not None:
            shared.facts.add_windows(found[0][0], now, found[1])
    return shared.services[lookup]


def _read_group_alerts(
    session: Session, requests: Sequence[TriggerRequest], shared: SharedByTriggers
) -> None:
    """A group's open alerts, each service's in one statement, and its new ones in one insert, before
    its triggers are decided one by one: per trigger, they were two statements of its own."""
    first: dict[tuple[str, str], TriggerRequest] = {}
    for request in requests:
        if (service := _service_of(session, request, shared)) is not None:
            first.setdefault((service.id, request.dedup_key), request)
    keys_by_service: dict[str, list[str]] = {}
    for service_id, key in first:
        keys_by_service.setdefault(service_id, []).append(key)
    found: dict[tuple[str, str], trigger_queries.OpenAlert | int] = {}
    for service_id, keys in keys_by_service.items():
        for key, alert in trigger_queries.lock_open_alerts(session, service_id, keys).items():
            found[(service_id, key)] = alert
    new = [_new_alert_columns(pair[0], request) for pair, request in first.items() if pair not in found]
    found |= trigger_queries.insert_alerts(session, new)
    shared.found = found


def _new_alert_columns(service_id: str, request: TriggerRequest) -> dict[str, Any]:
    now = request.now
    return {
        "service_id": service_id,
        "dedup_key": request.dedup_key,
        "summary": request.summary,
        "severity": request.severity,
        "source": request.source,
        "details": request.details or {},
        "last_event_at": now,
        "created_at": now,
        "updated_at": now,
    }


def _wake_worker(runtime: Runtime, notified: bool = False) -> None:
    # What a trigger or a manual escalate decided is already written: only its pages are new work.
    # `notified`: the other processes' workers were woken by the commit (notify_on_commit).
    if notified:
        runtime.waker.wake("delivery")
    else:
        wake_workers(runtime.waker, runtime.engine, "delivery")


def act_on_alert(
    runtime: Runtime,
    alert_id: int,
    action: AlertAction,
    *,
    by: str | None,
    now: datetime,
    minutes: int | None = None,
) -> AlertOutcome:
    """Acknowledge, resolve, escalate or snooze (for `minutes`) alert `alert_id`; the outcome says if
    it changed anything."""
    with session_scope(runtime.engine) as session:
        alert, outcome = act_in_transaction(
            session, runtime, alert_id, action, by=by, now=now, minutes=minutes
        )
    if action == "escalate":
        _wake_worker(runtime)
    return AlertOutcome(alert_id, alert.dedup_key, False, outcome)


def act_in_transaction(
    session: Session,
    runtime: Runtime,
    alert_id: int,
    action: AlertAction,
    *,
    by: str | None,
    now: datetime,
    minutes: int | None = None,
) -> tuple[Alert, str]:
    """act_on_alert's change in the caller's transaction: the alert (locked, as changed) and the outcome.

    After an escalate commits, the caller wakes the worker (`wake_worker`) so level 2 is paged at once.
    """
    event = _event(action, by, minutes)  # checked before anything is locked
    alert = _locked(session, alert_id)
    decision = AlertTransaction(session, runtime, now).handle(alert, event)
    return alert, decision.outcome if decision is not None else "policy_missing"


def wake_worker(runtime: Runtime) -> None:
    """Tell the worker new pages are waiting (after the transaction that wrote them committed)."""
    _wake_worker(runtime)


def act_by_dedup_key(
    runtime: Runtime, service_id: str, dedup_key: str, action: AlertAction, *, by: str | None, now: datetime
) -> AlertOutcome | None:
    """Acknowledge or resolve the open alert with this dedup key; None when there is none."""
    with session_scope(runtime.engine, read_only=True) as session:
        alert = find_open_alert(session, service_id, dedup_key)
    if alert is None or alert.id is None:
        return None
    return act_on_alert(runtime, alert.id, action, by=by, now=now)


def _locked(session: Session, alert_id: int) -> Alert:
    alert = lock_alert(session, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return alert


def get_alert(session: Session, alert_id: int) -> Alert:
    """Alert `alert_id`, or NotFound."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return alert


def list_alerts(
    session: Session,
    *,
    status: str | None = None,
    service_id: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Alert]:
    """Alerts newest first, optionally filtered by status and service."""
    if status is not None and status not in ALERT_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(ALERT_STATUSES)}, not {status!r}")
    if not 1 <= limit <= 500 or offset < 0:
        raise InvalidInput("limit must be 1..500 and offset >= 0")
    return newest_alerts(session, status=status, service_id=service_id, limit=limit, offset=offset)


def alert_timeline(session: Session, alert_id: int) -> list[TimelineEntry]:
    """The alert's timeline, oldest first (NotFound for an unknown alert)."""
    return alert_with_timeline(session, alert_id)[1]


def alert_with_timeline(session: Session, alert_id: int) -> tuple[Alert, list[TimelineEntry]]:
    """The alert and its timeline, oldest first (NotFound for an unknown alert)."""
    return get_alert(session, alert_id), timeline_of(session, alert_id)
