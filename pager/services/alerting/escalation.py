"""The escalation tick: every alert whose `next_action_at` has come gets a Timer event."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy.exc import InterfaceError, OperationalError

from pager.core.alert import Timer
from pager.db.alerts import DueAlert, claim_due_alerts
from pager.db.session import is_postgres, session_scope
from pager.services.alerting.decision_facts import FactsCache
from pager.services.alerting.paging import AlertTransaction
from pager.services.runtime import Runtime

log = logging.getLogger("pager.engine")

BATCH = 200
BURST = 50  # a pass deciding this many means many timers fell due at once
# With a clock, a pass goes on claiming what came due meanwhile for up to this long (see
# run_due_escalations), on the facts its first batch read.
PASS_FOLLOW_ON = timedelta(seconds=1)
# ... a Postgres batch thread that found nothing due waits this long at most for the other's batch.
IDLE_WAIT_SECONDS = 0.1
PARALLEL_BATCHES = 2  # Postgres: batches in progress at once
ERROR_RETRY = timedelta(minutes=1)

# Called after each batch's transaction has committed, with the alerts it decided.
OnDecided = Callable[[Sequence[DueAlert]], None]


def run_due_escalations(
    runtime: Runtime,
    now: datetime,
    *,
    batch: int = BATCH,
    on_burst: Callable[[], None] | None = None,
    on_decided: OnDecided | None = None,
    clock: Callable[[], datetime] | None = None,
) -> int:
    """Decide every due alert, a batch per transaction; returns how many were decided.

    A batch is decided with everything it needs loaded up front (users, rules and services are read
    once per pass, with the first batch) and written in bulk. If anything in it fails, the batch is
    rolled back and redone alert by alert, each in a savepoint: the failing alert is logged, put on
    its timeline and retried a minute later; the rest go ahead.

    On Postgres two batches are in progress at once (claims skip each other's locked rows), so one
    is decided while the server writes the other. `on_burst` is called once, when the pass has
    decided BURST alerts (many fell due at once; a following-on pass keeps up with a storm in small
    batches). `on_decided` is called after each batch has committed, with its alerts (the worker
    measures their lateness with it).

    With a `clock` (the worker's), each batch claims what is due at the clock's instant (never
    before `now`), and the pass goes on while there is any, for up to PASS_FOLLOW_ON after `now`: the
    timers of a storm come due over a second or more, and a pass that took only what was due at
    its start left those that came due meanwhile to the next pass, which read every service and
    person again first (a pass of 1,000 people: ~13 ms) — each pass longer than the last, the
    lateness growing with them. Without a clock every batch is decided at `now`.
    """
    pass_ = _Pass(runtime, now, batch, on_burst, on_decided, clock)
    if not pass_.step():
        return len(pass_.seen)
    if not is_postgres(runtime.engine):
        pass_.run()
        return len(pass_.seen)
    pass_.threads = PARALLEL_BATCHES
    with ThreadPoolExecutor(max_workers=PARALLEL_BATCHES, thread_name_prefix="pager-decide") as pool:
        for running in [pool.submit(pass_.run) for _ in range(PARALLEL_BATCHES)]:
            running.result()
    return len(pass_.seen)


class _Pass:
    """One pass over the due alerts, shared by the threads that claim its batches."""

    def __init__(
        self,
        runtime: Runtime,
        now: datetime,
        batch: int,
        on_burst: Callable[[], None] | None,
        on_decided: OnDecided | None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.runtime, self.now, self.batch = runtime, now, batch
        self.on_burst, self.on_decided = on_burst, on_decided
        self.clock = clock
        self.seen: set[int] = set()
        self._facts = FactsCache()  # every service and person, read by the first batch that has work
        if clock is not None:  # overrides read once for every instant the pass may follow on to
            self._facts.until = now + PASS_FOLLOW_ON
        self._lock = threading.Lock()
        self._burst = False
        self.threads = 1  # claiming its batches (two on Postgres, once the first batch had work)
        self._committed = 0  # batches with alerts committed, by any thread
        self._idle = 0  # threads that found nothing due, waiting for another's batch
        self._over = False  # every thread found nothing due: the follow-on is over
        self._turn = threading.Condition(self._lock)

    def run(self) -> None:
        while self.step():
            pass

    def step(self) -> bool:
        """Decide one batch; False when the pass is over."""
        with self._lock:
            committed = self._committed
        now = self.now if self.clock is None else max(self.now, self.clock())
        try:
            decided = _decide_batch(self.runtime, now, self.batch, self._facts)
        except (OperationalError, InterfaceError):
            raise  # the database is away, not a bad alert: alert by alert would fail the same way
        except Exception:
            log.exception("escalation_batch_failed; redoing it alert by alert")
            decided = _decide_batch_carefully(self.runtime, now, self.batch)
        if decided and self.on_decided is not None:
            try:
                self.on_decided(decided)
            except Exception:  # an observer must never stop the engine
                log.exception("on_decided_failed")
        with self._lock:
            fresh = [alert.id for alert in decided if alert.id not in self.seen]
            self.seen |= {alert.id for alert in decided}
            burst = len(self.seen) >= min(BURST, self.batch) and not self._burst
            self._burst |= burst
            if decided:
                self._committed += 1
                self._turn.notify_all()
        if burst and self.on_burst is not None:
            self.on_burst()
        # Stop at a short batch (with a clock: at an empty one, or once the follow-on is over), or
        # when a batch holds only alerts decided already (a decision that left its timer due would
        # otherwise be taken again and again).
        if self.clock is not None and now - self.now < PASS_FOLLOW_ON:
            return bool(fresh) if decided else self._another_batch_since(committed)
        return len(decided) == self.batch and bool(fresh)

    def _another_batch_since(self, committed: int) -> bool:
        """This thread found nothing due: look again if another thread's batch has committed since it
        looked (more may have come due meanwhile), waiting for one while another thread is deciding.
        On Postgres the other thread's claim had taken what was due: a thread ending there left the
        rest of the pass to one thread, and a storm's decisions then fell behind its timers."""
        with self._turn:
            if self._committed != committed:
                return True
            self._idle += 1
            try:
                if self._idle >= self.threads:
                    self._over = True
                    self._turn.notify_all()

                def more() -> bool:
                    return self._over or self._committed != committed

                self._turn.wait_for(more, timeout=IDLE_WAIT_SECONDS)
                return not self._over and self._committed != committed
            finally:
                self._idle -= 1


def _decide_batch(runtime: Runtime, now: datetime, batch: int, facts: FactsCache) -> list[DueAlert]:
    with session_scope(runtime.engine) as session:
        due = claim_due_alerts(session, now, limit=batch)
        if not due:
            return []
        facts.load_everyone(session)
        AlertTransaction(session, runtime, now, facts).apply_all([(alert, Timer()) for alert in due])
    return due


def _decide_batch_carefully(runtime: Runtime, now: datetime, batch: int) -> list[DueAlert]:
    with session_scope(runtime.engine) as session:
        due = claim_due_alerts(session, now, limit=batch)
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
    return due
