"""Alert use cases: trigger with dedup, acknowledge, resolve, escalate, and reading alerts back.

Each call is one transaction. The decision itself is the pure core's (pager.core.escalation); this
module finds the alert, locks it, and hands the event to an AlertTransaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pager.core.alert import Ack, Escalate, Event, Resolve, Trigger
from pager.db import repositories as repo
from pager.db.session import session_scope
from pager.db.tables import ALERT_STATUSES, Alert, TimelineEntry
from pager.services.errors import InvalidInput, NotFound
from pager.services.paging import AlertTransaction
from pager.services.runtime import Runtime
from pager.services.wakeup import notify_worker

AlertAction = Literal["ack", "resolve", "escalate"]
SEVERITIES = ("critical", "error", "warning", "info")
MAX_SUMMARY = 1024


@dataclass(frozen=True)
class AlertOutcome:
    """What a call did: the alert it touched, whether it opened it, and how the event was taken."""

    alert_id: int
    dedup_key: str
    created: bool
    outcome: str


def _event(action: AlertAction, by: str | None) -> Event:
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
    summary = " ".join(summary.split())
    if not summary:
        raise InvalidInput("summary must not be empty")
    if severity not in SEVERITIES:
        raise InvalidInput(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    key = dedup_key or uuid.uuid4().hex
    for attempt in range(2):
        try:
            outcome = _trigger_once(
                runtime, service_id, summary[:MAX_SUMMARY], now, key, severity, source, details
            )
        except IntegrityError:
            # Another request opened this dedup key between our look-up and insert: count into it.
            if attempt:
                raise
            continue
        if outcome.created:
            runtime.waker.wake()
            notify_worker(runtime.engine)
        return outcome
    raise AssertionError("unreachable")


def _trigger_once(
    runtime: Runtime,
    service_id: str,
    summary: str,
    now: datetime,
    key: str,
    severity: str,
    source: str,
    details: dict[str, Any] | None,
) -> AlertOutcome:
    with session_scope(runtime.engine) as session:
        work = AlertTransaction(session, runtime, now)
        if work.service(service_id) is None:
            raise NotFound(f"no service {service_id!r}")
        alert = repo.find_open_alert(session, service_id, key, lock=True)
        if alert is not None:
            alert.event_count += 1
            if details:
                alert.details = {**alert.details, "last_event": details}
            work.handle(alert, Trigger())
            assert alert.id is not None
            return AlertOutcome(alert.id, key, False, "deduplicated")
        alert = Alert(
            service_id=service_id,
            dedup_key=key,
            summary=summary,
            severity=severity,  # type: ignore[arg-type]  # checked against SEVERITIES above
            source=source,
            details=details or {},
            last_event_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(alert)
        session.flush()
        assert alert.id is not None
        work.handle(alert, Trigger())
        return AlertOutcome(alert.id, key, True, "triggered")


def act_on_alert(
    runtime: Runtime, alert_id: int, action: AlertAction, *, by: str | None, now: datetime
) -> AlertOutcome:
    """Acknowledge, resolve or escalate alert `alert_id`; the outcome says if it changed anything."""
    with session_scope(runtime.engine) as session:
        alert = _locked(session, alert_id)
        decision = AlertTransaction(session, runtime, now).handle(alert, _event(action, by))
        outcome = decision.outcome if decision is not None else "policy_missing"
    if action == "escalate":
        runtime.waker.wake()
        notify_worker(runtime.engine)
    return AlertOutcome(alert_id, alert.dedup_key, False, outcome)


def act_by_dedup_key(
    runtime: Runtime, service_id: str, dedup_key: str, action: AlertAction, *, by: str | None, now: datetime
) -> AlertOutcome | None:
    """Acknowledge or resolve the open alert with this dedup key; None when there is none."""
    with session_scope(runtime.engine, read_only=True) as session:
        alert = repo.find_open_alert(session, service_id, dedup_key)
    if alert is None or alert.id is None:
        return None
    return act_on_alert(runtime, alert.id, action, by=by, now=now)


def _locked(session: Session, alert_id: int) -> Alert:
    query = (
        select(Alert).where(Alert.id == alert_id).with_for_update().execution_options(populate_existing=True)
    )
    alert = session.exec(query).first()
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
    query = select(Alert).order_by(col(Alert.id).desc()).limit(limit).offset(offset)
    if status is not None:
        query = query.where(Alert.status == status)
    if service_id is not None:
        query = query.where(Alert.service_id == service_id)
    return list(session.exec(query))


def alert_timeline(session: Session, alert_id: int) -> list[TimelineEntry]:
    """The alert's timeline, oldest first (NotFound for an unknown alert)."""
    get_alert(session, alert_id)
    return repo.timeline_of(session, alert_id)
