"""Maintenance windows: start, end early, list (docs/escalation.md, "Maintenance windows and snooze").

A window only changes what the engine decides for alerts that open while it holds the service (the
hold is read by `decision_facts.load_facts`; the alert stays `suppressed` until the hold's end, its
`next_action_at`). Ending a window early releases the alerts it holds in the same transaction.
Ad-hoc windows on one service never overlap: a second one is refused while another covers any of
its instants (end that one first), so "which window holds this alert" always has one answer.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session

from pager.core.alert import HoldEnded
from pager.core.durations import DurationError, DurationTooLong, parse_duration
from pager.core.localtime import format_instant
from pager.core.maintenance import AdHocWindow, overlapping
from pager.db.maintenance import (
    add_window,
    lock_suppressed_alerts,
    lock_window,
    newest_windows,
    windows_ending_after,
)
from pager.db.session import session_scope
from pager.db.tables import MaintenanceWindowRow, Service
from pager.services.alerting.alerts import wake_worker
from pager.services.alerting.paging import AlertTransaction
from pager.services.errors import Conflict, InvalidInput, NotFound
from pager.services.runtime import Runtime

log = logging.getLogger("pager.maintenance")

MAX_WINDOW = timedelta(days=30)
MAX_REASON = 500


def window_length(text: str) -> timedelta:
    """`--for` / `for` as a duration (`30m`, `2h`, `1d`), at most MAX_WINDOW; InvalidInput otherwise."""
    try:
        length = parse_duration(text.strip())
    except DurationTooLong:  # far over a year: too long for a window anyway
        length = MAX_WINDOW + MAX_WINDOW
    except DurationError as exc:
        raise InvalidInput(f"window length {text!r}: {exc}") from None
    if length > MAX_WINDOW:
        raise InvalidInput(f"a maintenance window lasts at most {MAX_WINDOW.days} days, not {text!r}")
    return length


def start_window(
    session: Session,
    service_id: str,
    length: timedelta,
    *,
    reason: str,
    by: str | None,
    now: datetime,
) -> MaintenanceWindowRow:
    """Start a window on `service_id` now for `length`; Conflict when another window covers any of it."""
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"reason is longer than {MAX_REASON} characters")
    if length <= timedelta(0):
        raise InvalidInput("a maintenance window must last longer than zero")
    if session.get(Service, service_id) is None:
        raise NotFound(f"no service {service_id!r}")
    end = now + length
    existing = windows_ending_after(session, service_id, now, lock=True)
    clash = overlapping(now, end, [_ad_hoc(row) for row in existing])
    if clash is not None:
        raise Conflict(
            f"service {service_id!r} is already in maintenance window {clash.id} "
            f"({format_instant(clash.start)} to {format_instant(clash.end)}); end it first "
            f"(pager maintenance end {clash.id}) or wait for it to end"
        )
    row = add_window(session, service_id=service_id, start_at=now, end_at=end, reason=reason, created_by=by)
    log.info("maintenance_started window=%s service=%s end=%s by=%s", row.id, service_id, end.isoformat(), by)
    return row


def end_window(
    session: Session, runtime: Runtime, window_id: int, *, by: str | None, now: datetime
) -> tuple[MaintenanceWindowRow, int]:
    """End window `window_id` now; the alerts it held are released (paged from level 1, unless another
    window holds them). Returns the window and how many alerts were released. After the commit the
    caller wakes the worker (`alerts.wake_worker`): the released alerts' pages are waiting."""
    row = lock_window(session, window_id)
    if row is None:
        raise NotFound(f"no maintenance window {window_id}")
    if row.end_at <= now:
        raise Conflict(f"maintenance window {window_id} already ended at {format_instant(row.end_at)}")
    row.end_at = max(now, row.start_at)
    row.ended_by = by
    session.add(row)
    session.flush()
    # Every held alert of the service is decided again, not only those named after this window: a
    # hold runs through touching windows, so this one may be what kept an alert named after another.
    held = lock_suppressed_alerts(session, row.service_id)
    ended = HoldEnded(by, _ad_hoc(row).describe())
    released = 0
    if held:
        decisions = AlertTransaction(session, runtime, now).handle_many([(alert, ended) for alert in held])
        released = sum(1 for d in decisions if d is not None and d.state.status != "suppressed")
    log.info(
        "maintenance_ended window=%d service=%s released=%d by=%s", window_id, row.service_id, released, by
    )
    return row, released


def end_window_now(
    runtime: Runtime, window_id: int, *, by: str | None, now: datetime
) -> tuple[MaintenanceWindowRow, int]:
    """`end_window` in a transaction of its own, then the worker is woken for the released alerts."""
    with session_scope(runtime.engine) as session:
        row, released = end_window(session, runtime, window_id, by=by, now=now)
    if released:
        wake_worker(runtime)
    return row, released


def list_windows(
    session: Session, *, now: datetime, current_only: bool, limit: int = 100
) -> list[MaintenanceWindowRow]:
    """Windows newest first; only those not yet over when `current_only`."""
    if not 1 <= limit <= 500:
        raise InvalidInput("limit must be 1..500")
    return newest_windows(session, ending_after=now if current_only else None, limit=limit)


def window_state(row: MaintenanceWindowRow, now: datetime) -> str:
    """`scheduled`, `active` or `ended` at `now`."""
    if row.end_at <= now:
        return "ended"
    return "active" if row.start_at <= now else "scheduled"


def _ad_hoc(row: MaintenanceWindowRow) -> AdHocWindow:
    return AdHocWindow(row.id or 0, row.start_at, row.end_at, row.reason)
