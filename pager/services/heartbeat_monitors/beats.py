"""A beat on `/heartbeat/{key}`: the monitor's timer moves on, and an alert its miss opened is resolved.

The key is looked up read-only first, so an unknown key (a guess, a retired monitor) never takes the
writer lock; a known one is throttled per key before its one short write transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from pager.core.heartbeat_monitors import due_after_beat, missed_dedup_key
from pager.db.alerts import add_timeline_entry
from pager.db.heartbeat_monitors import active_monitor_id, active_monitor_keys, lock_active_monitor
from pager.db.session import read_connection, session_scope
from pager.db.tables import HeartbeatMonitor
from pager.db.trigger_queries import lock_open_alert
from pager.services.alerting.alerts import act_in_transaction
from pager.services.errors import NotFound
from pager.services.ingest.keys import Throttle, Throttled
from pager.services.runtime import Runtime

log = logging.getLogger("pager.heartbeat_monitors")

UNKNOWN_MONITOR_KEY = "no heartbeat monitor has this key"


class UnknownMonitorKey(NotFound):
    """No active heartbeat monitor has this key."""

    def __init__(self) -> None:
        super().__init__(UNKNOWN_MONITOR_KEY)


@dataclass(frozen=True)
class BeatOutcome:
    """What a beat did: the monitor, when it is next due, and the alert it resolved (if any)."""

    service_id: str
    name: str
    next_due_at: datetime
    resolved_alert_id: int | None


def monitor_exists(runtime: Runtime, key: str) -> bool:
    """Whether an active monitor holds `key`: a read that never waits for, nor takes, the writer."""
    with read_connection(runtime.engine) as reader:
        return active_monitor_id(reader, key) is not None


def declared_monitor_keys(runtime: Runtime) -> list[str]:
    """The keys of every active monitor (what a starting server knows beats with), read like
    `monitor_exists`."""
    with read_connection(runtime.engine) as reader:
        return active_monitor_keys(reader)


def record_beat(runtime: Runtime, key: str, now: datetime, throttle: Throttle | None = None) -> BeatOutcome:
    """Record a beat of the monitor holding `key` at `now`.

    UnknownMonitorKey (nothing written) for a key no active monitor holds; Throttled when the key beat
    more often than `throttle` allows. Otherwise, in one transaction: the monitor's last beat and timer
    move on and, when its miss is raised, the open alert is resolved with a timeline line saying why.
    """
    if not monitor_exists(runtime, key):
        raise UnknownMonitorKey()
    if throttle is not None:
        wait = throttle.take(f"heartbeat:{key}")
        if wait:
            raise Throttled(wait)
    with session_scope(runtime.engine) as session:
        monitor = lock_active_monitor(session, key)
        if monitor is None:  # retired between the look-up and now
            raise UnknownMonitorKey()
        resolved = _resolve_missed(session, runtime, monitor, now) if monitor.missed_at is not None else None
        every, grace = timedelta(seconds=monitor.every_seconds), timedelta(seconds=monitor.grace_seconds)
        monitor.last_beat_at, monitor.missed_at, monitor.updated_at = now, None, now
        monitor.due_at = due_after_beat(now, every, grace)
        session.add(monitor)
        outcome = BeatOutcome(monitor.service_id, monitor.name, monitor.due_at, resolved)
    log.info(
        "heartbeat_beat service=%s name=%s next_due_at=%s resolved_alert=%s",
        outcome.service_id,
        outcome.name,
        outcome.next_due_at.isoformat(),
        outcome.resolved_alert_id if outcome.resolved_alert_id is not None else "-",
    )
    return outcome


def _resolve_missed(
    session: Session, runtime: Runtime, monitor: HeartbeatMonitor, now: datetime
) -> int | None:
    """Resolve the alert the monitor's miss opened; None when a person resolved it already."""
    alert = lock_open_alert(session, monitor.service_id, missed_dedup_key(monitor.name))
    if alert is None:
        return None
    add_timeline_entry(
        session,
        alert_id=alert.id,
        at=now,
        kind="heartbeat_beat",
        message=f"heartbeat {monitor.name} beat again at {now.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z: "
        "resolving this alert",
        data={"heartbeat": monitor.name},
    )
    act_in_transaction(session, runtime, alert.id, "resolve", by=None, now=now)
    return alert.id
