"""The monitors declared in policy files, mirrored into `heartbeat_monitors` with their secret keys."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session

from pager.config.loader import LoadedConfig
from pager.core.heartbeat_monitors import HeartbeatSpec, missed_dedup_key, rearmed_due_at
from pager.db.alerts import add_timeline_entry
from pager.db.heartbeat_monitors import all_monitors
from pager.db.tables import HeartbeatMonitor
from pager.db.trigger_queries import lock_open_alert

log = logging.getLogger("pager.heartbeat_monitors")


def new_monitor_key() -> str:
    """A fresh beat-URL key: 192 random bits, URL-safe (32 characters)."""
    return secrets.token_urlsafe(24)


def sync_monitors(session: Session, config: LoadedConfig, now: datetime) -> None:
    """Create, update and retire monitor rows to match the files, in the caller's transaction.

    A new monitor gets a key and waits for its first beat. A changed `every` or `grace` moves the timer
    of an armed monitor at once. A monitor removed from the files is retired: its key stops working and
    its timer stops; an alert its miss opened stays open (a person resolves it), with a timeline line
    saying no beat will resolve it now. Declared again later, it comes back with the same key.
    """
    declared: dict[tuple[str, str], HeartbeatSpec] = {
        (service_id, spec.name): spec
        for service_id, (ref, _policy) in config.services.items()
        for spec in ref.heartbeats
    }
    rows = {(row.service_id, row.name): row for row in all_monitors(session)}
    for (service_id, name), spec in declared.items():
        row = rows.get((service_id, name))
        if row is None:
            session.add(
                HeartbeatMonitor(
                    service_id=service_id,
                    name=name,
                    key=new_monitor_key(),
                    every_seconds=_seconds(spec.every),
                    grace_seconds=_seconds(spec.grace),
                    created_at=now,
                    updated_at=now,
                )
            )
            log.info("heartbeat_monitor_created service=%s name=%s", service_id, name)
        else:
            _redeclare(row, spec, now)
    for (service_id, name), row in rows.items():
        if (service_id, name) not in declared and row.retired_at is None:
            _retire(session, row, now)
    session.flush()


def _redeclare(row: HeartbeatMonitor, spec: HeartbeatSpec, now: datetime) -> None:
    every, grace = _seconds(spec.every), _seconds(spec.grace)
    if (row.every_seconds, row.grace_seconds, row.retired_at) == (every, grace, None):
        return
    row.every_seconds, row.grace_seconds, row.retired_at, row.updated_at = every, grace, None, now
    row.due_at = rearmed_due_at(row.last_beat_at, row.missed_at, spec.every, spec.grace)
    log.info(
        "heartbeat_monitor_updated service=%s name=%s every=%ds grace=%ds",
        row.service_id,
        row.name,
        every,
        grace,
    )


def _retire(session: Session, row: HeartbeatMonitor, now: datetime) -> None:
    row.retired_at, row.due_at, row.updated_at = now, None, now
    log.info("heartbeat_monitor_retired service=%s name=%s", row.service_id, row.name)
    if row.missed_at is None:
        return
    alert = lock_open_alert(session, row.service_id, missed_dedup_key(row.name))
    if alert is not None:
        add_timeline_entry(
            session,
            alert_id=alert.id,
            at=now,
            kind="heartbeat_retired",
            message=f"heartbeat {row.name} was removed from the configuration: no beat will resolve "
            "this alert now; resolve it by hand",
            data={"heartbeat": row.name},
        )


def _seconds(length: timedelta) -> int:
    return int(length.total_seconds())
