"""When the worker's loops next have work: the earliest due instants the database holds.

Every timer lives in the database (an alert's `next_action_at`, a heartbeat monitor's `due_at`, a
page's `due_at` / `next_attempt_at`), so a loop sleeps until the earliest of them, or until woken;
a restart loses nothing.
"""

from __future__ import annotations

from datetime import datetime

from pager.db import backlog
from pager.db.heartbeat_monitors import earliest_monitor_due
from pager.db.session import session_scope
from pager.services.runtime import Runtime


def next_decision_due(runtime: Runtime) -> datetime | None:
    """The escalation loop's next due instant: the earliest alert timer or heartbeat monitor timer."""
    with session_scope(runtime.engine, read_only=True) as session:
        found = [due for due in (backlog.earliest_alert_timer(session), earliest_monitor_due(session)) if due]
    return min(found) if found else None


def next_page_due(runtime: Runtime) -> datetime | None:
    """The earliest instant a queued or uncertain page needs attention (None: none)."""
    with session_scope(runtime.engine, read_only=True) as session:
        return backlog.earliest_page_ready(session)


def next_send_due(runtime: Runtime) -> datetime | None:
    """The earliest instant a queued page may be sent (None: none). Uncertain pages are the
    reconcile job's (pager.worker_jobs), not the delivery loop's."""
    with session_scope(runtime.engine, read_only=True) as session:
        return backlog.earliest_page_ready(session, statuses=backlog.PENDING_PAGE_STATUSES)
