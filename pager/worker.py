"""The worker: runs due escalations and sends the outbox, woken at once for new work, ticked every second.

APScheduler 3.x only ticks (interval 1 s, misfire_grace_time=None, coalesce=True). The tick and every
wake-up (in-process trigger, Postgres NOTIFY, the SQLite wake socket) set the flags of two loops, one
for escalations and one for deliveries. Between runs each sleeps until its earliest due instant in the
database (at most a second), so a timer fires on time rather than on the next tick. All timers live in
the database, so a restarted worker picks up everything that fell due while it was down.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func
from sqlalchemy import select as sql_select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlmodel import col, select

from pager.db import repositories as repo
from pager.db.session import session_scope
from pager.db.tables import Alert, OutboxMessage
from pager.services.catalog import sync_services
from pager.services.delivery import DeliveryPump, reconcile_uncertain, run_due_deliveries
from pager.services.engine_metrics import LatenessMeter
from pager.services.escalation import OnDecided, run_due_escalations
from pager.services.runtime import Runtime
from pager.services.wakeup import WakeListener, Waker

log = logging.getLogger("pager.worker")

TICK_SECONDS = 1.0
# Young-generation collections every GC_YOUNG_THRESHOLD net allocations instead of CPython's 700: a
# burst of decisions allocates millions of short-lived objects, and each collection also scans
# everything allocated since the last. Everything loaded at start is frozen out of the scans.
GC_YOUNG_THRESHOLD = 10_000
_WAITING = ("pending", "unknown")  # outbox rows that still need the worker


def utc_now() -> datetime:
    """The wall clock, at the edge where the worker asks for it."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class TickReport:
    """How much one run did."""

    escalated: int
    reconciled: int
    sent: int


def tick(runtime: Runtime, now: datetime) -> TickReport:
    """One run of everything due at `now`: escalations first (they queue pages), then delivery.

    The fake-clock form of what the worker's two loops do concurrently.
    """
    escalated = run_due_escalations(runtime, now)
    reconciled, sent = deliver(runtime, now)
    return TickReport(escalated, reconciled, sent)


def next_alert_due(runtime: Runtime) -> datetime | None:
    """The earliest `next_action_at` of an open alert (None: no timer set)."""
    with session_scope(runtime.engine, read_only=True) as session:
        due = session.exec(
            select(func.min(Alert.next_action_at)).where(col(Alert.status) != "resolved")
        ).one()
    return None if due is None else _aware(due)


def next_page_due(runtime: Runtime) -> datetime | None:
    """The earliest instant a queued or uncertain page needs attention (None: none)."""
    ready_at = repo.outbox_ready_at()
    # One min() per status: with `status =` the index (status, ready_at) answers each with one probe.
    query = sql_select(
        *(
            sql_select(func.min(ready_at)).where(col(OutboxMessage.status) == s).scalar_subquery()
            for s in _WAITING
        )
    )
    with session_scope(runtime.engine, read_only=True) as session:
        found = [due for due in session.execute(query).one() if due is not None]
    return _aware(min(found)) if found else None


def deliver(runtime: Runtime, now: datetime) -> tuple[int, int]:
    """Reconcile uncertain pages, then send due ones: (reconciled, sent)."""
    return reconcile_uncertain(runtime, now), run_due_deliveries(runtime, now)


def _next_page_due(runtime: Runtime, pump: DeliveryPump) -> datetime | None:
    # With every sender busy there is nothing to claim: a finishing sender wakes the loop. While
    # claims are held for a burst of decisions, their release wakes it. While new pages gather
    # after a claim that could send none, nothing is claimed before the gathering ends.
    if pump.saturated or pump.holding:
        return None
    due = next_page_due(runtime)
    resume_at = pump.claims_resume_at()
    return due if due is None or resume_at is None else max(due, resume_at)


def _aware(instant: datetime) -> datetime:
    # Aggregates bypass the column type, so SQLite hands back naive UTC text.
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant


class _Loop:
    """One kind of due work, run whenever woken and otherwise when the database says it is due."""

    def __init__(
        self,
        name: str,
        waker: Waker,
        work: Callable[[datetime], int],
        due: Callable[[], datetime | None],
        clock: Callable[[], datetime],
        stopping: threading.Event,
    ) -> None:
        self.name = name
        self.work = work
        self.due = due
        self.clock = clock
        self.stopping = stopping
        self.waker = waker
        self.flag = waker.subscribe(name)
        self.database_away = False

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                done = self.work(self.clock())
            except (OperationalError, InterfaceError) as exc:
                self._report_database_away(exc)
                done = 0
            except Exception:
                log.exception("loop_failed loop=%s", self.name)
                done = 0
            else:
                if self.database_away:
                    log.info("database_back loop=%s", self.name)
                self.database_away = False
            if done:
                log.info("loop_ran loop=%s items=%d", self.name, done)
            self.waker.wait(self._sleep_seconds(), self.flag)

    def _sleep_seconds(self) -> float:
        try:
            due = self.due()
        except (OperationalError, InterfaceError) as exc:
            self._report_database_away(exc)
            return TICK_SECONDS
        except Exception:
            log.exception("next_due_failed loop=%s", self.name)
            return TICK_SECONDS
        if due is None:
            return TICK_SECONDS
        return max(0.0, min(TICK_SECONDS, (due - self.clock()).total_seconds()))

    def _report_database_away(self, exc: OperationalError | InterfaceError) -> None:
        # The database is away (restarting, unreachable, read-only): say so once, not with a
        # traceback every second; the loop keeps trying every tick.
        if not self.database_away:
            error = " ".join(str(exc.orig).split())
            log.warning("database_unavailable loop=%s error=%r; retrying every second", self.name, error)
        self.database_away = True


class Worker:
    """Runs escalations and deliveries in two loops; `stop()` (or SIGTERM/SIGINT) ends `run()`.

    Escalation decisions never wait behind a backlog of sends. During a burst of due timers (a batch
    of BURST or more) new claims wait until it is decided, at most DECISIONS_FIRST_MAX (see
    DeliveryPump); otherwise sends never wait for decisions. A decision that queues pages wakes the
    delivery loop at once. SIGHUP reloads config.
    """

    def __init__(
        self,
        runtime: Runtime,
        clock: Callable[[], datetime] = utc_now,
        on_decided: OnDecided | None = None,
    ) -> None:
        """`on_decided` observes each committed batch of timer decisions (default: the lateness
        metric of /metrics, pager_escalation_lateness_seconds)."""
        self.runtime = runtime
        self.clock = clock
        self.on_decided = on_decided or LatenessMeter(clock)
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.runtime.waker.wake()

    def run(self, *, install_signals: bool = True) -> None:
        """Block, doing due work, until stopped."""
        if install_signals:
            self._install_signals()
        with session_scope(self.runtime.engine) as session:
            sync_services(session, self.runtime.config, self.clock())
        listener = WakeListener(self.runtime.engine, self.runtime.waker)
        listener.start()
        scheduler = BackgroundScheduler(timezone=UTC)
        scheduler.add_job(
            self.runtime.waker.wake,
            "interval",
            seconds=TICK_SECONDS,
            id="tick",
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
        )
        runtime, waker, clock, stopping = self.runtime, self.runtime.waker, self.clock, self._stopping
        pump = DeliveryPump(runtime)
        delivery = _Loop("delivery", waker, pump.run, lambda: _next_page_due(runtime, pump), clock, stopping)
        # A finishing sender, and a decision that queued pages, wake only the delivery loop.
        pump.on_finished = delivery.flag.set

        def escalate(now: datetime) -> int:
            burst = False

            def hold_claims() -> None:
                nonlocal burst
                burst = True
                pump.hold_claims(now)

            try:
                decided = run_due_escalations(runtime, now, on_burst=hold_claims, on_decided=self.on_decided)
            finally:
                if not burst:
                    pump.release_claims()
            if decided:
                delivery.flag.set()
            return decided

        def alert_due() -> datetime | None:
            due = next_alert_due(runtime)
            # A burst of timers goes on while the next pass follows at once; it is over when the
            # loop would sleep (the hold never outlasts DECISIONS_FIRST_MAX either way).
            if due is None or due > clock():
                pump.release_claims()
            return due

        escalation = _Loop("escalation", waker, escalate, alert_due, clock, stopping)
        loops = [escalation, delivery]
        threads = [
            threading.Thread(target=loop.run, name=f"pager-{loop.name}", daemon=True) for loop in loops
        ]
        scheduler.start()
        for thread in threads:
            thread.start()
        log.info("worker_started database=%s", self.runtime.engine.url.render_as_string(hide_password=True))
        tuned_gc = _GarbageCollectorTuning()
        try:
            while not self._stopping.wait(TICK_SECONDS):
                pass
        finally:
            scheduler.shutdown(wait=False)
            for thread in threads:
                thread.join(timeout=30)
            pump.shutdown(self.clock())
            listener.stop()
            tuned_gc.restore()
            log.info("worker_stopped")

    def _install_signals(self) -> None:
        def on_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("worker_signal signal=%d stopping", signum)
            self.stop()

        def on_hup(_signum: int, _frame: FrameType | None) -> None:
            self.runtime.reload_config()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)


class _GarbageCollectorTuning:
    """While a worker runs: fewer young collections, and what was loaded before it started
    (modules, config, the app) left out of every scan. The last running worker's `restore()`
    undoes both (tests run several workers in one process)."""

    _lock = threading.Lock()
    _running = 0
    _threshold = gc.get_threshold()

    def __init__(self) -> None:
        cls = _GarbageCollectorTuning
        with cls._lock:
            if cls._running == 0:
                cls._threshold = gc.get_threshold()
                young, middle, old = cls._threshold
                gc.set_threshold(max(GC_YOUNG_THRESHOLD, young), middle, old)
            cls._running += 1
            gc.freeze()

    def restore(self) -> None:
        cls = _GarbageCollectorTuning
        with cls._lock:
            cls._running -= 1
            if cls._running == 0:
                gc.unfreeze()
                gc.set_threshold(*cls._threshold)


def run_worker(runtime: Runtime) -> None:
    """`pager worker`: run until SIGTERM/SIGINT."""
    Worker(runtime).run()
