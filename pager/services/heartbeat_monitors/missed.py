"""The worker's pass over missed beats: each due monitor raises its alert once, in one transaction.

Load (claim the due monitors, rows locked), decide (`core.heartbeat_monitors.is_missed` on the
claimed values), apply (the trigger through the normal alert path, and the monitor's timer stopped
with `missed_at` set) all commit together: a worker killed in between leaves the timer due, and the
next pass raises the alert then; a second worker skips rows the first holds (Postgres SKIP LOCKED,
SQLite's single writer) and finds their timers stopped once it commits.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from pager.core.durations import format_duration
from pager.core.heartbeat_monitors import is_missed, missed_dedup_key, missed_summary
from pager.db.alerts import add_timeline_entry
from pager.db.heartbeat_monitors import (
    DueMonitor,
    claim_missed_monitors,
    earliest_monitor_due,
    mark_missed,
    postpone,
)
from pager.db.session import session_scope
from pager.services.alerting.alerts import TriggerRequest, trigger_in_transaction, wake_worker
from pager.services.runtime import Runtime

log = logging.getLogger("pager.heartbeat_monitors")

BATCH = 100
ERROR_RETRY = timedelta(minutes=1)


def raise_missed_beats(runtime: Runtime, now: datetime, *, batch: int = BATCH) -> int:
    """Open the alert of every monitor whose beat is missed at `now`; returns how many were raised."""
    # Every escalation pass comes here: a read first, so a pass with nothing due never queues for
    # SQLite's writer lock.
    with session_scope(runtime.engine, read_only=True) as session:
        due = earliest_monitor_due(session)
    if not is_missed(due, now):
        return 0
    raised = 0
    opened = False
    while True:
        with session_scope(runtime.engine) as session:
            claimed = claim_missed_monitors(session, now, limit=batch)
            for monitor in claimed:
                if not is_missed(monitor.due_at, now):
                    continue
                created = _raise_in_savepoint(session, runtime, monitor, now)
                if created is not None:
                    raised += 1
                    opened = opened or created
        if len(claimed) < batch:
            break
    if opened:
        wake_worker(runtime)
    return raised


def _raise_in_savepoint(
    session: Session, runtime: Runtime, monitor: DueMonitor, now: datetime
) -> bool | None:
    """Raise one monitor's miss: whether it opened a new alert; None when it failed (retried later)."""
    savepoint = session.begin_nested()
    try:
        created = _raise(session, runtime, monitor, now)
    except Exception:
        savepoint.rollback()
        log.exception(
            "heartbeat_miss_failed service=%s name=%s retry_in=%s",
            monitor.service_id,
            monitor.name,
            format_duration(ERROR_RETRY),
        )
        postpone(session, monitor.id, now + ERROR_RETRY, now)
        return None
    savepoint.commit()
    return created


def _raise(session: Session, runtime: Runtime, monitor: DueMonitor, now: datetime) -> bool:
    last = monitor.last_beat_at
    every, grace = timedelta(seconds=monitor.every_seconds), timedelta(seconds=monitor.grace_seconds)
    last_text = "never" if last is None else f"{last.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z"
    request = TriggerRequest.build(
        service_id=monitor.service_id,
        summary=missed_summary(monitor.name),
        now=now,
        dedup_key=missed_dedup_key(monitor.name),
        source="heartbeat",
        details={
            "heartbeat": monitor.name,
            "last_beat_at": None if last is None else last.isoformat(),
            "every": format_duration(every),
            "grace": format_duration(grace),
        },
    )
    outcome = trigger_in_transaction(session, runtime, request)
    mark_missed(session, monitor.id, now)
    if outcome is None:  # the service row is gone: nothing to open the alert on
        log.error("heartbeat_missed_without_service service=%s name=%s", monitor.service_id, monitor.name)
        return False
    add_timeline_entry(
        session,
        alert_id=outcome.alert_id,
        at=now,
        kind="heartbeat_missed",
        message=f"heartbeat {monitor.name} missed: last beat {last_text}, expected every "
        f"{format_duration(every)} with {format_duration(grace)} grace",
        data={"heartbeat": monitor.name},
    )
    log.warning(
        "heartbeat_missed service=%s name=%s alert=%d last_beat_at=%s",
        monitor.service_id,
        monitor.name,
        outcome.alert_id,
        last_text,
    )
    return outcome.created
