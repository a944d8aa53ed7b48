"""Recording what each provider call achieved (docs/delivery.md, "Recorded", and the outcome table).

sent -> `sent` with the provider's id; transient -> back to `pending`, retried with backoff;
permanent (or transient too often) -> `failed`, and the alert's state machine brings the user's
next method forward at once; unknown -> `unknown`, reconciled with the provider before anything is
sent again. Every outcome goes on the alert's timeline.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session

from pager.adapters.delivery import DeliveryOutcome, DeliveryResult
from pager.core.alert import DeliveryFailed
from pager.db.alerts import lock_alert
from pager.db.outbox import requeue_unsent
from pager.db.row_updates import update_rows
from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from pager.services.alerting.paging import AlertTransaction
from pager.services.delivery.claiming import Attempt, pending_ready
from pager.services.delivery.reports import settled_by_report
from pager.services.runtime import Runtime

log = logging.getLogger("pager.delivery")

NO_FREE_SENDER = "deferred: every sender was busy in a slow call; not sent, queued again"
MAX_TRANSIENT_ATTEMPTS = 8
MAX_BACKOFF = timedelta(seconds=30)


def backoff(attempts: int) -> timedelta:
    """Wait before retry number `attempts` (1 s, 2 s, 4 s ... capped at 30 s)."""
    return min(timedelta(seconds=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def record_outcomes(
    runtime: Runtime, now: datetime, outcomes: Iterable[tuple[Attempt, DeliveryResult]]
) -> datetime | None:
    """Store outcomes in one transaction; if that fails, page by page, so one bad row costs only itself.

    Returns the earliest instant a pending page may be sent (None: none pending), read in the same
    transaction after its writes (a fallback it queued included): the delivery loop's pass that
    recorded them claims only when that has come (docs/delivery.md, "When the delivery loop wakes").
    """
    outcomes = list(outcomes)
    try:
        with session_scope(runtime.engine) as session:
            work = AlertTransaction(session, runtime, now, bulk=True)
            outcomes = _not_settled(session, work, outcomes)
            changes = [_outcome_change(work, attempt, result, now) for attempt, result in outcomes]
            update_rows(session, OutboxMessage, changes)  # one statement for the whole batch
            for (attempt, result), change in zip(outcomes, changes, strict=True):
                _fall_back_if_failed(session, work, attempt, result, change)
            return _next_due_after(work, session)
    except (OperationalError, InterfaceError):
        raise  # the database is away, not a bad row: page by page would fail the same way
    except Exception:
        log.exception("record_batch_failed pages=%d; recording them one by one", len(outcomes))
    with session_scope(runtime.engine) as session:
        work = AlertTransaction(session, runtime, now, bulk=True)
        for attempt, result in _not_settled(session, work, outcomes):
            try:
                with session.begin_nested():
                    change = _outcome_change(work, attempt, result, now)
                    update_rows(session, OutboxMessage, [change])
                    _fall_back_if_failed(session, work, attempt, result, change)
                    work.write_buffered()
            except Exception:
                log.exception("record_failed key=%s outcome=%s", attempt.page.idempotency_key, result.outcome)
                work.discard_buffered()  # a fallback decided inside the rolled-back savepoint
        return _next_due_after(work, session)


def _next_due_after(work: AlertTransaction, session: Session) -> datetime | None:
    work.write_buffered()  # a fallback's pages are buffered until the commit: written first
    return pending_ready(session)


def requeue_unstarted(runtime: Runtime, now: datetime, unstarted: Iterable[tuple[Attempt, float]]) -> int:
    """Pages claimed ahead that found no free sender in time (`(attempt, seconds waited)`, see
    pager.services.delivery.pump) were never handed to a provider: back to pending, due at once, and
    on the alert's timeline. One that the reconcile sweep or another claim took meanwhile is left
    alone. Returns how many were put back."""
    unstarted = list(unstarted)
    with session_scope(runtime.engine) as session:
        work = AlertTransaction(session, runtime, now, bulk=True)
        claims = [(attempt.row_id, attempt.attempts) for attempt, _ in unstarted]
        back = set(requeue_unsent(session, claims, now, NO_FREE_SENDER))
        for attempt, waited in unstarted:
            if attempt.row_id in back:
                what = f"{attempt.page.method} to {attempt.user}"
                wait = f"waited {waited:.0f}s for a free sender (all in slow calls)"
                work.timeline(
                    attempt.page.alert_id, "page_deferred", f"{what} {wait}; not sent, queued again"
                )
    return len(back)


def _not_settled(
    session: Session, work: AlertTransaction, outcomes: list[tuple[Attempt, DeliveryResult]]
) -> list[tuple[Attempt, DeliveryResult]]:
    """The outcomes to record: a page whose delivery report came before its send was recorded keeps
    what the report made of it (a failure already fell back); its timeline says so."""
    settled = settled_by_report(session, (attempt.row_id for attempt, _ in outcomes))
    for attempt, result in outcomes:
        if attempt.row_id in settled:
            page, report = attempt.page, settled[attempt.row_id]
            what = f"{page.method} to {attempt.user}"
            sent = (
                f"sent ({result.provider_id})"
                if result.outcome is DeliveryOutcome.SENT
                else str(result.outcome)
            )
            message = f"{what} {sent}; its delivery report came first: {report}"
            log.info("page_report_came_first key=%s report=%s", page.idempotency_key, report)
            work.timeline(page.alert_id, "page_sent", message, {"user": attempt.user})
    return [(attempt, result) for attempt, result in outcomes if attempt.row_id not in settled]


def _fall_back_if_failed(
    session: Session,
    work: AlertTransaction,
    attempt: Attempt,
    result: DeliveryResult,
    change: dict[str, object],
) -> None:
    if change["status"] == "failed":
        fall_back(session, work, attempt.page.alert_id, attempt.failed(result.error or ""))


def _outcome_change(
    work: AlertTransaction, attempt: Attempt, result: DeliveryResult, now: datetime
) -> dict[str, object]:
    """The outbox row's new columns for this outcome; its timeline line goes to `work`."""
    page = attempt.page
    what = f"{page.method} to {attempt.user}"
    log.info(
        "page_outcome alert=%s key=%s attempt=%d outcome=%s provider_id=%s error=%s",
        page.alert_id if page.alert_id is not None else "-",
        page.idempotency_key,
        attempt.attempts,
        result.outcome,
        result.provider_id or "-",
        result.error or "-",
    )
    change: dict[str, object] = {"id": attempt.row_id, "last_error": result.error, "updated_at": now}
    if result.outcome is DeliveryOutcome.SENT:
        change |= {"status": "sent", "provider_id": result.provider_id}
        work.timeline(
            page.alert_id, "page_sent", f"{what} sent ({result.provider_id})", {"user": attempt.user}
        )
    elif result.outcome is DeliveryOutcome.TRANSIENT and attempt.attempts < MAX_TRANSIENT_ATTEMPTS:
        wait = backoff(attempt.attempts)
        change |= {"status": "pending", "next_attempt_at": now + wait}
        retry = f"retrying in {int(wait.total_seconds())}s"
        work.timeline(
            page.alert_id,
            "page_retry",
            f"{what} failed on attempt {attempt.attempts}: {result.error}; {retry}",
        )
    elif result.outcome is DeliveryOutcome.UNKNOWN:
        change |= {"status": "unknown", "next_attempt_at": now}
        work.timeline(
            page.alert_id,
            "page_unknown",
            f"{what}: outcome unknown ({result.error}); checking with the provider",
        )
    else:
        change["status"] = "failed"
        work.timeline(page.alert_id, "page_failed", f"{what} failed for good: {result.error}")
    return change


def fall_back(session: Session, work: AlertTransaction, alert_id: int | None, failed: DeliveryFailed) -> None:
    """Tell the alert's state machine the page failed, so it brings the user's next method forward.

    A notice (`alert_id` None) has no escalation to fall back in: its failure is logged and that is all.
    """
    if alert_id is None:
        log.warning("notice_failed user=%s method=%s reason=%s", failed.user, failed.method, failed.reason)
        return
    alert = lock_alert(session, alert_id)
    if alert is not None:
        work.handle(alert, failed)
