"""Page delivery from the outbox (docs/delivery.md): no page lost, none sent twice.

1. Claim due rows and mark them `sending` with their exact text, and commit, before any provider call
   (pager.services.delivery.claiming).
2. Call the providers (in parallel threads), outside any transaction (this module).
3. Record each outcome, as soon as its call returns, in a new transaction: sent; transient -> retry
   with backoff; permanent -> failed, and the alert's state machine falls back to the user's next
   method at once; unknown -> reconciled against the provider before anything is sent again
   (pager.services.delivery.outcomes).
A worker that dies mid-call leaves rows `sending`; after a lease (settings.sending_lease_seconds,
longer than any provider call's timeout) they are reconciled like unknowns
(pager.services.delivery.reconciliation). Every attempt and outcome goes on the alert's timeline.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from pager.adapters.delivery import DeliveryOutcome, DeliveryResult
from pager.db.backlog import PendingPageProbe
from pager.db.session import is_postgres
from pager.services.delivery.claiming import BATCH, Attempt, claim, claim_pages, due_by
from pager.services.delivery.outcomes import record_outcomes, requeue_unstarted
from pager.services.runtime import Runtime

log = logging.getLogger("pager.delivery")

SENDERS = 32
# Pages claimed ahead per sender (see DeliveryPump): enough that the senders never run dry between
# two passes of the delivery loop, which with every sender busy comes round only every 50-100 ms.
AHEAD_PER_SENDER = 3
# ... and never more than the senders can start within about this long, at the recent calls' pace:
# with a slow provider the pages claimed ahead stay few, far from CLAIM_AHEAD_MAX_WAIT.
AHEAD_WAIT_SECONDS = 1.0
CLAIM_GATHER = timedelta(milliseconds=50)
# After a claim that could send nothing it took (all held back), new pages gather this long first.
THROTTLED_GATHER = timedelta(milliseconds=100)
# While a burst of escalation decisions is being worked through, new claims wait at most this long.
DECISIONS_FIRST_MAX = timedelta(seconds=3)
# A page claimed ahead (see DeliveryPump) that found no free sender for this long is not sent by
# that sender: it goes back to pending, due at once, for the next claim. The wait plus the provider
# call's timeout (10 s) stays well inside the sending lease (30 s by default; `pager doctor` and the
# worker's start warn below 15 s: reconciliation.MIN_SENDING_LEASE_SECONDS).
CLAIM_AHEAD_MAX_WAIT = 5.0


def run_due_deliveries(runtime: Runtime, now: datetime, *, batch: int = BATCH) -> int:
    """Send every due page (claim, call, record); returns how many provider calls were made."""
    total = 0
    with ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="pager-send") as senders:
        while True:
            attempts, _put_back = claim_pages(runtime, now, batch)
            if not attempts:
                return total
            calls = {senders.submit(send_page, runtime, attempt): attempt for attempt in attempts}
            # Each outcome is recorded the moment its call returns: a page already sent must not wait
            # in memory for a slow sibling call, or a crash meanwhile would send it a second time.
            for call in as_completed(calls):
                record_outcomes(runtime, now, [(calls[call], call.result())])
            total += len(attempts)
            if len(attempts) < batch:
                return total


class DeliveryPump:
    """The worker's delivery: a long-lived pool of senders that the loop never waits on.

    Each run records the outcomes that came back (one transaction) and claims as many due pages as
    there are free slots: one per sender, and AHEAD_PER_SENDER per sender claimed ahead (`ahead`),
    which wait in the pool's queue. A finishing sender takes the next claimed page at once,
    so senders never sit idle while the loop records and claims (with 32 senders busy, a loop that
    shares their interpreter comes round only every few tens of milliseconds). A finishing sender
    calls `on_finished` (the worker wakes the delivery loop with it) once a quarter of the slots are
    free or none is busy, so outcomes are recorded, and freed slots refilled, a
    few at a time. A slow or hanging provider call holds one sender, never the other pages.

    A claimed page is `sending` from its claim: one that waited CLAIM_AHEAD_MAX_WAIT without a free
    sender (every sender stuck in a slow call) is not sent by that sender but put back to pending by
    the next run, due at once, so the lease never runs out while a page is still queued or being
    sent, and the page does not wait out the lease either.

    Decisions first: while the worker works through a backlog of due escalations (`hold_claims`),
    no new pages are claimed, for at most DECISIONS_FIRST_MAX. Both share one interpreter, and a
    sender's provider call costs about as much CPU as several decisions: a burst of timers is
    decided, and its pages queued, seconds sooner, and sending then runs uncontended. Calls in
    flight go on, and outcomes are still recorded.

    Stopping (`shutdown`, bounded by its timeout): nothing new is claimed, pages claimed and calls in
    flight get the time left to be sent and recorded; one still running or queued is left `sending`,
    for reconciliation.
    """

    def __init__(
        self,
        runtime: Runtime,
        senders: int = SENDERS,
        on_finished: Callable[[], None] | None = None,
        *,
        ahead: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.on_finished = on_finished or runtime.waker.wake
        self._pool = ThreadPoolExecutor(max_workers=senders, thread_name_prefix="pager-send")
        # Slots: one per sender, plus the pages claimed ahead that wait for the next free sender.
        self._senders = senders
        self._ahead = AHEAD_PER_SENDER * senders if ahead is None else ahead
        self._slots = self._idle = senders + self._ahead
        self._claim_at_least = max(1, self._slots // 4)
        self._call_seconds = 0.0  # moving average of the provider calls' durations (0: none yet)
        self._monotonic = monotonic
        self._last_claim: datetime | None = None
        self._lock = threading.Lock()
        self._all_idle = threading.Condition(self._lock)
        self._closed = False
        self._finished: queue.SimpleQueue[tuple[Attempt, DeliveryResult]] = queue.SimpleQueue()
        self._unstarted: queue.SimpleQueue[tuple[Attempt, float]] = queue.SimpleQueue()  # (page, s waited)
        self._held_since: datetime | None = None
        self._skipped_for_hold = False
        self._gather_until: datetime | None = None
        self._next_due: tuple[datetime | None] | None = None  # as this pass's claim read it
        # Postgres: whether a page is due, asked before a claim on a connection kept for it. On
        # SQLite the claim looks first in its own transaction, as before (no round trips to save).
        self._probe = PendingPageProbe(runtime.engine) if is_postgres(runtime.engine) else None
        self._probing = threading.Lock()  # held by the loop's read: shutdown never closes under it

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

    def deciding(self, now: datetime) -> bool:
        """Claims are held for a burst of decisions (`hold_claims`), for at most DECISIONS_FIRST_MAX."""
        with self._lock:
            return self._held_since is not None and now - self._held_since < DECISIONS_FIRST_MAX

    def _held(self, now: datetime) -> bool:
        held = self.deciding(now)
        with self._lock:
            self._skipped_for_hold |= held
        return held

    @property
    def waiting(self) -> bool:
        """Nothing is claimed now: every sender is busy (`saturated`) or claims are held (`holding`);
        the next run comes when a sender finishes, the claims are released, or on the tick."""
        return self.saturated or self.holding

    def next_due_read(self) -> tuple[datetime | None] | None:
        """When the next pending page falls due, as the last pass's claim read it after its writes,
        as a 1-tuple; None when that pass made no claim (or failed): then nobody has read it."""
        return self._next_due

    def claims_resume_at(self) -> datetime | None:
        """While pages gather after a claim that could send none (see `run`): when claiming resumes."""
        return self._gather_until

    @property
    def saturated(self) -> bool:
        """Too few senders are free to claim for: the next run comes when one finishes (it calls
        `on_finished`), or on the worker's tick."""
        free, in_use = self._free()
        return free == 0 or (free < self._claim_at_least and in_use > 0)

    def claimable(self, now: datetime) -> int:
        """How many pages to claim now (0: wait for more senders to come free)."""
        # While calls are in flight, claim for a few free senders at once rather than one page per
        # finished call: each claim is a transaction. Free senders wait for company at most
        # CLAIM_GATHER, counted from the last claim (the next finishing call or the tick runs it).
        free, in_use = self._free()
        if free == 0:
            return 0
        if free >= self._claim_at_least or in_use == 0:
            return free
        if self._last_claim is None or now - self._last_claim >= CLAIM_GATHER:
            return free
        return 0

    def _free(self) -> tuple[int, int]:
        """(how many pages may be claimed now, how many claimed are unsent or in a call)."""
        with self._lock:
            in_use, call_seconds = self._slots - self._idle, self._call_seconds
        ahead = self._ahead
        if call_seconds > 0:
            ahead = min(ahead, int(self._senders * AHEAD_WAIT_SECONDS / call_seconds))
        return max(0, self._senders + ahead - in_use), in_use

    def run(self, now: datetime) -> int:
        """One pass; returns how many pages it recorded or handed to a sender.

        Uncertain pages are not its work: the worker's `reconcile` job asks the providers about them.
        """
        self._next_due = None
        # When the next pending page is due, as recording the outcomes read it after its writes.
        recorded: tuple[datetime | None] | None = None
        finished = _drain(self._finished)
        if finished:
            try:
                recorded = (record_outcomes(self.runtime, now, finished),)
            except (OperationalError, InterfaceError):
                # The database is away. These pages went out: keep their outcomes (the rows stay
                # `sending`, claimed by nobody) and record them first thing once it is back. Dropped,
                # they would wait out the sending lease and be reconciled: an email sent twice, and
                # calls to those numbers held until then.
                for outcome in finished:
                    self._finished.put(outcome)
                raise
        unstarted = _drain(self._unstarted)
        if unstarted:
            recorded = None  # pages put back, due at once: read again (probe or the claim's look)
            try:
                requeue_unstarted(self.runtime, now, unstarted)
            except (OperationalError, InterfaceError):
                for page in unstarted:  # still `sending`: put back once the database is back
                    self._unstarted.put(page)
                raise
        gathering = self._gather_until is not None and now < self._gather_until
        claimable = 0 if self._closed or self._held(now) or gathering else self.claimable(now)
        if claimable and recorded is None:
            recorded = self._probe_ready()
        attempts: list[Attempt] = []
        put_back = 0
        if claimable and recorded is not None and not due_by(recorded[0], now):
            # Nothing is due: the claim would read just that, in a transaction of its own. A page
            # queued since the read wakes the loop, as after a claim's read.
            self._next_due = recorded
            self._gather_until = None
        elif claimable:
            # After recording (or the probe), the read said a page is due: the claim need not look.
            due_known = recorded is not None
            attempts, put_back, next_due = claim(self.runtime, now, claimable, due_known=due_known)
            self._next_due = (next_due,)
            self._last_claim = now
            # It could send nothing it took (a throttled address, a call in flight): pages to a
            # person already at the limit are coming faster than they may go, each trigger waking
            # this loop. Let the next ones gather, to be put back in one transaction, not one each
            # (every transaction here takes SQLite's one writer slot from ingest).
            self._gather_until = now + THROTTLED_GATHER if put_back and not attempts else None
        claimed_at = self._monotonic()
        for attempt in attempts:
            with self._lock:
                self._idle -= 1
            self._pool.submit(self._send, attempt, claimed_at)
        return len(finished) + len(unstarted) + len(attempts)

    def _probe_ready(self) -> tuple[datetime | None] | None:
        """When the next pending page is due, read by the probe, as a 1-tuple; None when there is no
        probe or its read failed: then the claim looks first, in its own transaction, as on SQLite
        (and fails as it would have, if the database is away)."""
        if self._probe is None:
            return None
        try:
            with self._probing:
                return (self._probe.read(),)
        except SQLAlchemyError as exc:
            log.warning("pending_probe_failed error=%s; the claim looks instead", type(exc).__name__)
            return None

    def stop_claiming(self) -> None:
        """Claim nothing from now on (the worker is stopping); calls in flight go on."""
        self._closed = True

    def shutdown(self, now: datetime, timeout: float | None = None) -> int:
        """Stop claiming, wait up to `timeout` seconds (None: for ever) for the pages claimed (sent in
        turn, as senders come free) and their calls, record the outcomes that came back; returns how
        many claimed pages were still unsent or in a call.

        A call still in flight is left to its provider's own timeout, unrecorded, and a claimed page no
        sender took is never sent by this worker: either row stays `sending` and is reconciled with
        the provider after the sending lease, as after a crash.
        """
        self.stop_claiming()
        with self._all_idle:
            self._all_idle.wait_for(lambda: self._idle == self._slots, timeout)
            in_flight = self._slots - self._idle
        self._pool.shutdown(wait=in_flight == 0, cancel_futures=True)
        finished = _drain(self._finished)
        if finished:
            record_outcomes(self.runtime, now, finished)
        unstarted = _drain(self._unstarted)
        if unstarted:
            requeue_unstarted(self.runtime, now, unstarted)
        # A loop stuck in a read past the grace keeps its connection (the process is ending): closing
        # a driver connection under a call in another thread is not safe.
        if self._probe is not None and self._probing.acquire(blocking=False):
            try:
                self._probe.close()
            finally:
                self._probing.release()
        return in_flight

    def _send(self, attempt: Attempt, claimed_at: float) -> None:
        started = self._monotonic()
        waited = started - claimed_at
        call_seconds = None
        if waited < CLAIM_AHEAD_MAX_WAIT:
            self._finished.put((attempt, send_page(self.runtime, attempt)))
            call_seconds = self._monotonic() - started
        else:  # every sender was stuck in a slow call: too close to the lease to start one now
            log.warning(
                "claimed_page_not_sent key=%s waited=%.1fs; queued again",
                attempt.page.idempotency_key,
                waited,
            )
            self._unstarted.put((attempt, waited))
        with self._lock:
            if call_seconds is not None:
                average = self._call_seconds
                self._call_seconds = call_seconds if average == 0 else 0.8 * average + 0.2 * call_seconds
            self._idle += 1
            self._all_idle.notify_all()
        free, in_use = self._free()
        # Wake the loop for a few outcomes at once (each run records them in one transaction and
        # claims for the freed slots), or at once when this was the last page claimed. An outcome
        # left waiting is safe: its row stays `sending` and is never claimed again.
        if free >= self._claim_at_least or in_use == 0:
            self.on_finished()


T = TypeVar("T")


def _drain(items: queue.SimpleQueue[T]) -> list[T]:
    drained = []
    while not items.empty():
        drained.append(items.get())
    return drained


def send_page(runtime: Runtime, attempt: Attempt) -> DeliveryResult:
    """Hand the page to its notifier once; an adapter crash reads as an unknown outcome."""
    try:
        return runtime.notifiers[attempt.page.method].send(attempt.page)
    except Exception as exc:  # an adapter bug must not lose the page: reconcile it instead
        log.exception("send_crashed key=%s", attempt.page.idempotency_key)
        return DeliveryResult(DeliveryOutcome.UNKNOWN, error=f"adapter error: {exc}")
