"""Page delivery from the outbox (docs/delivery.md): no page lost, none sent twice.

1. Claim due rows and mark them `sending` with their exact text, and commit, before any provider call.
2. Call the providers (in parallel threads), outside any transaction.
3. Record each outcome, as soon as its call returns, in a new transaction: sent; transient -> retry
   with backoff; permanent -> failed, and the alert's state machine falls back to the user's next
   method at once; unknown -> reconciled against the provider before anything is sent again.
A worker that dies mid-call leaves rows `sending`; after a lease (settings.sending_lease_seconds,
longer than any provider call's timeout) they are reconciled like unknowns.
Every attempt and outcome goes on the alert's timeline.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import Session

from pager.adapters.delivery import DeliveryOutcome, DeliveryResult, Method, Page
from pager.core.alert import DeliveryFailed
from pager.core.delivery_plan import DEFER, plan_claim
from pager.db.alerts import lock_alert
from pager.db.outbox import ClaimedPage, claim_due_outbox, claim_uncertain_outbox
from pager.db.row_updates import update_rows
from pager.db.session import session_scope
from pager.db.tables import Alert, OutboxMessage
from pager.services.alerting.paging import AlertTransaction
from pager.services.delivery import throttle
from pager.services.delivery.reports import SETTLED_BY_REPORT, settled_by_report
from pager.services.runtime import Runtime

log = logging.getLogger("pager.delivery")

BATCH = 100
SENDERS = 32
MAX_TRANSIENT_ATTEMPTS = 8
MAX_BACKOFF = timedelta(seconds=30)
RECONCILE_EVERY = timedelta(seconds=1)
CLAIM_GATHER = timedelta(milliseconds=50)
# After a claim that could send nothing it took (all held back), new pages gather this long first.
THROTTLED_GATHER = timedelta(milliseconds=100)
# While a burst of escalation decisions is being worked through, new claims wait at most this long.
DECISIONS_FIRST_MAX = timedelta(seconds=3)


@dataclass(frozen=True)
class Attempt:
    """A claimed row's snapshot: what is being sent, and to whom."""

    row_id: int
    page: Page
    attempts: int
    user: str


def backoff(attempts: int) -> timedelta:
    """Wait before retry number `attempts` (1 s, 2 s, 4 s ... capped at 30 s)."""
    return min(timedelta(seconds=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def key_parts(idempotency_key: str) -> tuple[int, int, int, str, Method, int]:
    """(cycle, loop, level, user, method, step) of an idempotency key (see NotificationStep)."""
    _alert, cycle, loop, level, user, method, step = idempotency_key.split(":")
    checked: Method = "sms" if method == "sms" else "voice" if method == "voice" else "email"
    return int(cycle[1:]), int(loop[1:]), int(level[1:]), user, checked, int(step)


def page_of(row: OutboxMessage | ClaimedPage) -> Page:
    """The provider-facing page for an outbox row (email rows keep their subject on the first line)."""
    assert row.alert_id is not None
    subject, body = "", row.body
    if row.method == "email":
        subject, _, body = row.body.partition("\n")
        body = body.lstrip("\n")
    return Page(row.idempotency_key, row.alert_id, row.method, row.address, body, subject)


def run_due_deliveries(runtime: Runtime, now: datetime, *, batch: int = BATCH) -> int:
    """Send every due page (claim, call, record); returns how many provider calls were made."""
    total = 0
    with ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="pager-send") as senders:
        while True:
            attempts, _put_back = _claim(runtime, now, batch)
            if not attempts:
                return total
            calls = {senders.submit(_send, runtime, attempt): attempt for attempt in attempts}
            # Each outcome is recorded the moment its call returns: a page already sent must not wait
            # in memory for a slow sibling call, or a crash meanwhile would send it a second time.
            for call in as_completed(calls):
                _record(runtime, now, [(calls[call], call.result())])
            total += len(attempts)
            if len(attempts) < batch:
                return total


class DeliveryPump:
    """The worker's delivery: a long-lived pool of senders that the loop never waits on.

    Each run records the outcomes that came back (one transaction), reconciles uncertain pages (at
    most once a second: leases and provider checks are measured in seconds), and claims only as
    many due pages as there are idle senders, so a claimed page is in a provider call at once and
    can never outlive its `sending` lease. A finishing sender calls `on_finished` (the worker wakes
    the delivery loop with it) once a quarter of the senders are free or none is busy, so outcomes
    are recorded, and freed senders refilled, a few at a time. A slow or hanging provider call holds
    one sender, never the other pages.

    Decisions first: while the worker works through a backlog of due escalations (`hold_claims`),
    no new pages are claimed, for at most DECISIONS_FIRST_MAX. Both share one interpreter, and a
    sender's provider call costs about as much CPU as several decisions: a burst of timers is
    decided, and its pages queued, seconds sooner, and sending then runs uncontended. Calls in
    flight go on, and outcomes are still recorded.

    Stopping (`shutdown`, bounded by its timeout): nothing new is claimed, calls in flight get the
    time left to finish and be recorded; one still running is left `sending`, for reconciliation.
    """

    def __init__(
        self,
        runtime: Runtime,
        senders: int = SENDERS,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.on_finished = on_finished or runtime.waker.wake
        self._pool = ThreadPoolExecutor(max_workers=senders, thread_name_prefix="pager-send")
        self._senders = self._idle = senders
        self._claim_at_least = max(1, senders // 4)
        self._last_claim: datetime | None = None
        self._lock = threading.Lock()
        self._all_idle = threading.Condition(self._lock)
        self._closed = False
        self._finished: queue.SimpleQueue[tuple[Attempt, DeliveryResult]] = queue.SimpleQueue()
        self._next_reconcile: datetime | None = None
        self._held_since: datetime | None = None
        self._skipped_for_hold = False
        self._gather_until: datetime | None = None

    def hold_claims(self, now: datetime) -> None:
        """Escalation decisions are backlogged: claim nothing new until `release_claims` (or the cap)."""
        with self._lock:
            if self._held_since is None:
                self._held_since = now

    def release_claims(self) -> None:
        """The backlog is decided: claims go on, and a run skipped meanwhile is run now."""
        with self._lock:
            self._held_since = None
            skipped, self._skipped_for_hold = self._skipped_for_hold, False
        if skipped:
            self.on_finished()

    @property
    def holding(self) -> bool:
        """Claims are held for decisions: the next run comes with `release_claims` or the tick."""
        with self._lock:
            return self._held_since is not None

    def _held(self, now: datetime) -> bool:
        with self._lock:
            held = self._held_since is not None and now - self._held_since < DECISIONS_FIRST_MAX
            self._skipped_for_hold |= held
        return held

    def claims_resume_at(self) -> datetime | None:
        """While pages gather after a claim that could send none (see `run`): when claiming resumes."""
        return self._gather_until

    @property
    def saturated(self) -> bool:
        """Too few senders are free to claim for: the next run comes when one finishes (it calls
        `on_finished`), or on the worker's tick."""
        with self._lock:
            idle = self._idle
        return idle == 0 or (idle < self._claim_at_least and idle < self._senders)

    def claimable(self, now: datetime) -> int:
        """How many pages to claim now (0: wait for more senders to come free)."""
        # While calls are in flight, claim for a few free senders at once rather than one page per
        # finished call: each claim is a transaction. Free senders wait for company at most
        # CLAIM_GATHER, counted from the last claim (the next finishing call or the tick runs it).
        with self._lock:
            idle = self._idle
        if idle == 0:
            return 0
        if idle >= self._claim_at_least or idle == self._senders:
            return idle
        if self._last_claim is None or now - self._last_claim >= CLAIM_GATHER:
            return idle
        return 0

    def run(self, now: datetime) -> int:
        """One pass; returns how many pages it recorded, reconciled or handed to a sender."""
        finished: list[tuple[Attempt, DeliveryResult]] = []
        while not self._finished.empty():
            finished.append(self._finished.get())
        if finished:
            try:
                _record(self.runtime, now, finished)
            except (OperationalError, InterfaceError):
                # The database is away. These pages went out: keep their outcomes (the rows stay
                # `sending`, claimed by nobody) and record them first thing once it is back. Dropped,
                # they would wait out the sending lease and be reconciled: an email sent twice, and
                # calls to those numbers held until then.
                for outcome in finished:
                    self._finished.put(outcome)
                raise
        reconciled = 0
        if self._next_reconcile is None or now >= self._next_reconcile:
            reconciled = reconcile_uncertain(self.runtime, now)
            self._next_reconcile = now + RECONCILE_EVERY
        gathering = self._gather_until is not None and now < self._gather_until
        claimable = 0 if self._closed or self._held(now) or gathering else self.claimable(now)
        attempts, put_back = _claim(self.runtime, now, claimable) if claimable else ([], 0)
        if claimable:
            self._last_claim = now
            # It could send nothing it took (a throttled address, a call in flight): pages to a
            # person already at the limit are coming faster than they may go, each trigger waking
            # this loop. Let the next ones gather, to be put back in one transaction, not one each
            # (every transaction here takes SQLite's one writer slot from ingest).
            self._gather_until = now + THROTTLED_GATHER if put_back and not attempts else None
        for attempt in attempts:
            with self._lock:
                self._idle -= 1
            self._pool.submit(self._send, attempt)
        return len(finished) + reconciled + len(attempts)

    def stop_claiming(self) -> None:
        """Claim nothing from now on (the worker is stopping); calls in flight go on."""
        self._closed = True

    def shutdown(self, now: datetime, timeout: float | None = None) -> int:
        """Stop claiming, wait up to `timeout` seconds (None: for ever) for calls in flight, record the
        outcomes that came back; returns how many calls were still in flight.

        A call still in flight is left to its provider's own timeout, unrecorded: its row stays
        `sending` and is reconciled with the provider after the sending lease, as after a crash.
        """
        self.stop_claiming()
        with self._all_idle:
            self._all_idle.wait_for(lambda: self._idle == self._senders, timeout)
            in_flight = self._senders - self._idle
        self._pool.shutdown(wait=in_flight == 0, cancel_futures=True)
        finished = []
        while not self._finished.empty():
            finished.append(self._finished.get())
        if finished:
            _record(self.runtime, now, finished)
        return in_flight

    def _send(self, attempt: Attempt) -> None:
        result = _send(self.runtime, attempt)
        self._finished.put((attempt, result))
        with self._lock:
            self._idle += 1
            idle = self._idle
            self._all_idle.notify_all()
        # Wake the loop for a few outcomes at once (each run records them in one transaction and
        # claims for the freed senders), or at once when this was the last call in flight. An
        # outcome left waiting is safe: its row stays `sending` and is never claimed again.
        if idle >= self._claim_at_least or idle == self._senders:
            self.on_finished()


def _send(runtime: Runtime, attempt: Attempt) -> DeliveryResult:
    try:
        return runtime.notifiers[attempt.page.method].send(attempt.page)
    except Exception as exc:  # an adapter bug must not lose the page: reconcile it instead
        log.exception("send_crashed key=%s", attempt.page.idempotency_key)
        return DeliveryResult(DeliveryOutcome.UNKNOWN, error=f"adapter error: {exc}")


def _claim(runtime: Runtime, now: datetime, batch: int) -> tuple[list[Attempt], int]:
    """Claim up to `batch` due pages: those to send now, and how many were put back (held).

    Load (the claimed rows, then what the throttle reads of their addresses), decide
    (`core.delivery_plan.plan_claim`), apply (holds put back, timeline lines), in one transaction.
    """
    with session_scope(runtime.engine) as session:
        rows = claim_due_outbox(session, now, limit=batch)
        if not rows:
            return [], 0
        plan = plan_claim(rows, throttle.load_claim_facts(session, now, rows), now)
        work = AlertTransaction(session, runtime, now, bulk=True)
        deferred: list[dict[str, object]] = []
        for hold in plan.holds:
            row = hold.page
            put_back = {"status": "pending", "attempts": row.attempts - 1, "next_attempt_at": hold.until}
            deferred.append({"id": row.id, **put_back, "last_error": hold.error})
            if hold.announce:  # the timeline says it once per page
                wait = f"{(hold.until - now).total_seconds():.0f}s"
                user = key_parts(row.idempotency_key)[3]
                work.timeline(
                    row.alert_id, "page_deferred", f"{row.method} to {user} deferred {wait}: {hold.reason}"
                )
        attempts: list[Attempt] = []
        for row in plan.send:
            user = key_parts(row.idempotency_key)[3]
            work.timeline(
                row.alert_id,
                "page_attempt",
                f"{row.method} to {user} ({row.address}): attempt {row.attempts}",
                {"user": user, "method": row.method, "key": row.idempotency_key},
            )
            attempts.append(Attempt(row.id, page_of(row), row.attempts, user))
        update_rows(session, OutboxMessage, deferred)
        return attempts, len(deferred)


def _record(runtime: Runtime, now: datetime, outcomes: Iterable[tuple[Attempt, DeliveryResult]]) -> None:
    """Store outcomes in one transaction; if that fails, page by page, so one bad row costs only itself."""
    outcomes = list(outcomes)
    try:
        with session_scope(runtime.engine) as session:
            work = AlertTransaction(session, runtime, now, bulk=True)
            outcomes = _not_settled(session, work, outcomes)
            changes = [_outcome_change(work, attempt, result, now) for attempt, result in outcomes]
            update_rows(session, OutboxMessage, changes)  # one statement for the whole batch
            for (attempt, result), change in zip(outcomes, changes, strict=True):
                if change["status"] == "failed":
                    fall_back(
                        session, work, attempt.page.alert_id, attempt.page.idempotency_key, result.error or ""
                    )
        return
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
        page = attempt.page
        fall_back(session, work, page.alert_id, page.idempotency_key, result.error or "")


def _outcome_change(
    work: AlertTransaction, attempt: Attempt, result: DeliveryResult, now: datetime
) -> dict[str, object]:
    """The outbox row's new columns for this outcome; its timeline line goes to `work`."""
    page = attempt.page
    what = f"{page.method} to {attempt.user}"
    log.info(
        "page_outcome alert=%d key=%s attempt=%d outcome=%s provider_id=%s error=%s",
        page.alert_id,
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


def fall_back(
    session: Session, work: AlertTransaction, alert_id: int, idempotency_key: str, error: str
) -> None:
    """Tell the alert's state machine the page failed, so it brings the user's next method forward."""
    cycle, loop, level, user, method, step = key_parts(idempotency_key)
    alert = lock_alert(session, alert_id)
    if alert is not None:
        work.handle(alert, DeliveryFailed(user, method, cycle, loop, level, step, error))


def reconcile_uncertain(runtime: Runtime, now: datetime, *, batch: int = BATCH) -> int:
    """Ask the provider about pages whose outcome is unknown; resend only those it has no record of."""
    lease = timedelta(seconds=runtime.settings.sending_lease_seconds)
    with session_scope(runtime.engine) as session:
        rows = claim_uncertain_outbox(
            session,
            now,
            lease_expired_before=now - lease,
            hold_until=now + lease,
            limit=batch,
        )
        snapshots = [(row.id, page_of(row), row.last_attempt_at or now) for row in rows]
    for row_id, page, attempted_at in snapshots:
        found: str | None = None
        error: str | None = None
        try:
            found = runtime.notifiers[page.method].reconcile(page, attempted_at)
        except Exception as exc:  # the provider could not be asked: still unknown, ask again later
            error = f"{type(exc).__name__}: {exc}"
        with session_scope(runtime.engine) as session:
            # Locked: a delivery report for this page may be settling it right now.
            row = session.get(OutboxMessage, row_id, with_for_update=True, populate_existing=True)
            assert row is not None and row.alert_id is not None
            work = AlertTransaction(session, runtime, now)
            user = key_parts(row.idempotency_key)[3]
            alert = session.get(Alert, row.alert_id)
            if row.status in SETTLED_BY_REPORT:
                message = f"{page.method} to {user}: its delivery report came first: {row.status}"
                work.timeline(row.alert_id, "page_reconciled", message)
                continue
            if error is not None:
                row.next_attempt_at = now + DEFER
                work.timeline(
                    row.alert_id, "page_unknown", f"{page.method} to {user}: cannot check yet ({error})"
                )
            elif found is not None:
                row.status, row.provider_id = "sent", found
                work.timeline(
                    row.alert_id, "page_reconciled", f"{page.method} to {user}: provider has it ({found})"
                )
            elif alert is not None and alert.status != "triggered":
                row.status = "cancelled"
                work.timeline(
                    row.alert_id,
                    "page_reconciled",
                    f"{page.method} to {user}: never sent; alert is {alert.status}",
                )
            else:
                row.status, row.next_attempt_at = "pending", now
                work.timeline(
                    row.alert_id,
                    "page_reconciled",
                    f"{page.method} to {user}: provider has no record; resending",
                )
            row.updated_at = now
            session.add(row)
    return len(snapshots)
