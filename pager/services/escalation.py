"""The escalation tick: every alert whose `next_action_at` has come gets a Timer event."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from pager.core.alert import Timer
from pager.db import repositories as repo
from pager.db.session import session_scope
from pager.services.paging import AlertTransaction
from pager.services.runtime import Runtime

log = logging.getLogger("pager.engine")

BATCH = 200
ERROR_RETRY = timedelta(minutes=1)


def run_due_escalations(runtime: Runtime, now: datetime, *, batch: int = BATCH) -> int:
    """Decide every due alert (in batches, one transaction each); returns how many were decided.

    Each alert is decided inside a savepoint: one that fails is logged, put on its timeline and
    retried a minute later, and the rest of the batch goes ahead.
    """
    done = 0
    seen: set[int] = set()
    while True:
        with session_scope(runtime.engine) as session:
            due = repo.claim_due_alerts(session, now, limit=batch)
            fresh = [alert for alert in due if alert.id not in seen]
            work = AlertTransaction(session, runtime, now)
            for alert in fresh:
                assert alert.id is not None
                seen.add(alert.id)
                try:
                    with session.begin_nested():
                        work.handle(alert, Timer())
                except Exception:
                    log.exception("escalation_failed alert=%d", alert.id)
                    with session.begin_nested():
                        alert.next_action_at = now + ERROR_RETRY
                        session.add(alert)
                        work.timeline(
                            alert.id, "engine_error", "internal error while escalating; retrying in 1m"
                        )
        done += len(fresh)
        if len(due) < batch or not fresh:
            return done
