"""The escalation tick: every alert whose `next_action_at` has come gets a Timer event."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from pager.core.alert import Timer
from pager.db import repositories as repo
from pager.db.session import session_scope
from pager.services.paging import AlertTransaction, Directory
from pager.services.runtime import Runtime

log = logging.getLogger("pager.engine")

BATCH = 200
ERROR_RETRY = timedelta(minutes=1)


def run_due_escalations(runtime: Runtime, now: datetime, *, batch: int = BATCH) -> int:
    """Decide every due alert, a batch per transaction; returns how many were decided.

    A batch is decided with everything it needs loaded up front (users, rules and services are read
    once per pass, with the first batch) and written in bulk. If anything in it fails, the batch is
    rolled back and redone alert by alert, each in a savepoint: the failing alert is logged, put on
    its timeline and retried a minute later; the rest go ahead.
    """
    seen: set[int] = set()
    directory: list[Directory] = []  # loaded by the first batch that has work
    while True:
        try:
            decided = _decide_batch(runtime, now, batch, directory)
        except Exception:
            log.exception("escalation_batch_failed; redoing it alert by alert")
            decided = _decide_batch_carefully(runtime, now, batch)
        fresh = [alert_id for alert_id in decided if alert_id not in seen]
        seen.update(decided)
        # Stop at a short batch, or when a batch holds only alerts decided already (a decision
        # that left its timer due would otherwise be taken again and again).
        if len(decided) < batch or not fresh:
            return len(seen)


def _decide_batch(runtime: Runtime, now: datetime, batch: int, directory: list[Directory]) -> list[int]:
    with session_scope(runtime.engine) as session:
        due = repo.claim_due_alerts(session, now, limit=batch)
        if not due:
            return []
        if not directory:
            directory.append(Directory.load(session))
        work = AlertTransaction(session, runtime, now, directory[0])
        for alert in due:
            work.handle(alert, Timer())
    return [alert.id for alert in due]


def _decide_batch_carefully(runtime: Runtime, now: datetime, batch: int) -> list[int]:
    with session_scope(runtime.engine) as session:
        due = repo.claim_due_alerts(session, now, limit=batch)
        work = AlertTransaction(session, runtime, now)
        for alert in due:
            try:
                with session.begin_nested():
                    work.handle(alert, Timer())
                    work.write_buffered()
            except Exception:
                log.exception("escalation_failed alert=%d", alert.id)
                work.discard_buffered()  # what the rolled-back decision buffered must not be written
                with session.begin_nested():
                    work.retry_later(alert, ERROR_RETRY)
                    work.timeline(alert.id, "engine_error", "internal error while escalating; retrying in 1m")
                    work.write_buffered()
    return [alert.id for alert in due]
