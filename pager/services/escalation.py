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
    """Decide every due alert, a batch per transaction; returns how many were decided.

    A batch is decided with everything it needs loaded up front and written in bulk. If anything in
    it fails, the batch is rolled back and redone alert by alert, each in a savepoint: the failing
    alert is logged, put on its timeline and retried a minute later; the rest go ahead.
    """
    seen: set[int] = set()
    while True:
        try:
            decided = _decide_batch(runtime, now, batch)
        except Exception:
            log.exception("escalation_batch_failed; redoing it alert by alert")
            decided = _decide_batch_carefully(runtime, now, batch)
        fresh = [alert_id for alert_id in decided if alert_id not in seen]
        seen.update(decided)
        # Stop at a short batch, or when a batch holds only alerts decided already (a decision
        # that left its timer due would otherwise be taken again and again).
        if len(decided) < batch or not fresh:
            return len(seen)


def _decide_batch(runtime: Runtime, now: datetime, batch: int) -> list[int]:
    with session_scope(runtime.engine) as session:
        due = repo.claim_due_alerts(session, now, limit=batch)
        if not due:
            return []
        work = AlertTransaction(session, runtime, now)
        work.preload()
        for alert in due:
            work.handle(alert, Timer())
    return [alert.id for alert in due if alert.id is not None]


def _decide_batch_carefully(runtime: Runtime, now: datetime, batch: int) -> list[int]:
    with session_scope(runtime.engine) as session:
        due = repo.claim_due_alerts(session, now, limit=batch)
        work = AlertTransaction(session, runtime, now)
        for alert in due:
            assert alert.id is not None
            try:
                with session.begin_nested():
                    work.handle(alert, Timer())
                    work.write_pages()
            except Exception:
                log.exception("escalation_failed alert=%d", alert.id)
                work.discard_pages()  # pages of the rolled-back decision must not be written
                with session.begin_nested():
                    alert.next_action_at = now + ERROR_RETRY
                    session.add(alert)
                    work.timeline(alert.id, "engine_error", "internal error while escalating; retrying in 1m")
    return [alert.id for alert in due if alert.id is not None]
