"""The worker: runs due escalations and sends the outbox, woken at once for new work.

Two loops, one for escalations and one for deliveries, run whenever a wake-up (in-process trigger,
Postgres NOTIFY, the SQLite wake socket) sets their flag. Between runs each sleeps until its earliest
due instant in the database, at most TICK_SECONDS, so a timer fires on time and a lost wake-up costs
at most a second. All timers live in the database, so a restarted worker picks up everything that
fell due while it was down. The periodic jobs (reconcile sweep, housekeeping, the dead-man's ping)
run on APScheduler (pager.worker_jobs).
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from pager.adapters.on_demand import warm_notifiers
from pager.core.readiness import BEAT_STALE_AFTER
from pager.services.alerting.catalog import sync_declared_services
from pager.services.alerting.escalation import OnDecided, run_due_escalations
from pager.services.delivery.pump import DeliveryPump, run_due_deliveries
from pager.services.delivery.reconciliation import reconcile_uncertain, sending_lease_problem
from pager.services.heartbeat_monitors.missed import raise_missed_beats
from pager.services.incidents.overdue_updates import run_overdue_updates
from pager.services.integrations.webhook_delivery import run_webhooks
from pager.services.operations.backlog import next_decision_due, next_send_due
from pager.services.operations.config_watch import ConfigWatcher, reload_and_sync
from pager.services.operations.deadman import DEADMAN_EVERY_SECONDS, DeadmanSwitch
from pager.services.operations.heartbeat import Heartbeat
from pager.services.operations.metrics import LatenessMeter
from pager.services.operations.wakeup import WakeListener
from pager.services.runtime import Runtime
from pager.worker_jobs import DaemonThreadExecutor, build_scheduler, periodic_jobs
from pager.worker_loop import TICK_SECONDS, WorkerLoop, oldest_pass

log = logging.getLogger("pager.worker")

# Young-generation collections every GC_YOUNG_THRESHOLD net allocations instead of CPython's 700: a
# burst of decisions allocates millions of short-lived objects, and each collection also scans
# everything allocated since the last. Everything loaded at start is frozen out of the scans.
GC_YOUNG_THRESHOLD = 10_000
# On SIGTERM: loops finish their pass and calls in flight finish, for at most this long together.
# A call still running then is left unrecorded (its row stays `sending` and is reconciled with the
# provider after the sending lease); removing the heartbeat row adds at most HEARTBEAT_WAIT.
SHUTDOWN_GRACE_SECONDS = 8.0


def utc_now() -> datetime:
    """The wall clock, at the edge where the worker asks for it."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class TickReport:
    """How much one run did."""

    escalated: int  # alerts decided by timers, and missed heartbeats raised
    reconciled: int
    sent: int
    webhooks_sent: int = 0


def tick(runtime: Runtime, now: datetime) -> TickReport:
    """One run of everything due at `now`: missed heartbeats and escalations first (they queue
    pages), then delivery, then outgoing webhooks.

    The fake-clock form of what the worker's two loops do concurrently.
    """
    escalated = raise_missed_beats(runtime, now) + run_due_escalations(runtime, now)
    escalated += run_overdue_updates(runtime, now).paged
    reconciled, sent = deliver(runtime, now)
    return TickReport(escalated, reconciled, sent, run_webhooks(runtime, now))


def deliver(runtime: Runtime, now: datetime) -> tuple[int, int]:
    """Reconcile uncertain pages, then send due ones: (reconciled, sent)."""
    return reconcile_uncertain(runtime, now), run_due_deliveries(runtime, now)


def _next_page_due(runtime: Runtime, pump: DeliveryPump, now: datetime) -> datetime | None:
    # With every sender busy there is nothing to claim: a finishing sender wakes the loop. While
    # claims are held for a burst of decisions, their release wakes it. While new pages gather
    # after a claim that could send none, nothing is claimed before the gathering ends: the
    # database is not asked (a storm wakes this loop on every trigger, and that read was one each).
    if pump.waiting:
        return None
    resume_at = pump.claims_resume_at()
    if resume_at is not None and resume_at > now:
        return resume_at
    # The pass that just ran read it in its claim, after its own writes (anything queued since
    # wakes the loop): asking again would be a transaction per pass for the same answer.
    read = pump.next_due_read()
    due = next_send_due(runtime) if read is None else read[0]
    return due if due is None or resume_at is None else max(due, resume_at)


class Worker:
    """Runs escalations and deliveries in two loops; `stop()` (or SIGTERM/SIGINT) ends `run()`.

    Escalation decisions never wait behind a backlog of sends. During a burst of due timers (a pass
    deciding BURST or more) new claims wait until it is decided, at most DECISIONS_FIRST_MAX (see
    DeliveryPump); otherwise sends never wait for decisions. A decision that queues pages wakes the
    delivery loop at once. SIGHUP reloads config.

    Periodic jobs (pager.worker_jobs, on APScheduler): the reconcile sweep, housekeeping and, with
    PAGER_DEADMAN_URL, a ping of that URL every `deadman_every` seconds while both loops completed a
    pass within BEAT_STALE_AFTER. Alive: its heartbeat row carries its slower loop's last completed
    pass (pager.services.operations.heartbeat), written by the thread that called `run`. Stopping
    takes at most SHUTDOWN_GRACE_SECONDS plus
    the heartbeat row's removal; `abandoned_sends` then says how many provider calls were left running.
    """

    def __init__(
        self,
        runtime: Runtime,
        clock: Callable[[], datetime] = utc_now,
        on_decided: OnDecided | None = None,
        *,
        deadman_every: float = DEADMAN_EVERY_SECONDS,
    ) -> None:
        """`on_decided` observes each committed batch of timer decisions (default: the lateness
        metric of /metrics, pager_escalation_lateness_seconds)."""
        self.runtime = runtime
        self.clock = clock
        self.on_decided = on_decided or LatenessMeter(clock)
        self.deadman_every = deadman_every
        self.heartbeat = Heartbeat(runtime.engine, clock)
        self.abandoned_sends = 0
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.runtime.waker.wake()

    def run(self, *, install_signals: bool = True) -> None:
        """Block, doing due work, until stopped."""
        if install_signals:
            self._install_signals()
        sync_declared_services(self.runtime.engine, self.runtime.config, self.clock())
        # The first page after a start must not wait for the Twilio SDK's import (0.5 s or more).
        warm_notifiers(self.runtime.notifiers)
        listener = WakeListener(self.runtime.engine, self.runtime.waker)
        listener.start()
        runtime, waker, clock, stopping = self.runtime, self.runtime.waker, self.clock, self._stopping
        pump = DeliveryPump(runtime)

        def next_due() -> datetime | None:
            return _next_page_due(runtime, pump, clock())

        def takes_pages() -> bool:  # new pages are claimed at once (see wake_workers)
            return not pump.waiting

        delivery = WorkerLoop("delivery", waker, pump.run, next_due, clock, stopping, ready=takes_pages)
        # A finishing sender, and a decision that queued pages, wake only the delivery loop.
        pump.on_finished = delivery.flag.set

        # When an overdue status-update ladder next needs this loop (from its last pass: its state is
        # in the database, so a restarted worker works it out again on its first pass).
        ladder_wake: datetime | None = None

        def escalate(now: datetime) -> int:
            nonlocal ladder_wake
            burst = False
            ladder_wake = None  # a failing pass must not leave a past instant to spin on

            def hold_claims() -> None:
                nonlocal burst
                burst = True
                pump.hold_claims(now)

            try:
                # Missed heartbeats open alerts through the trigger path; their timers share this loop.
                decided = raise_missed_beats(runtime, now)
                decided += run_due_escalations(
                    runtime, now, on_burst=hold_claims, on_decided=self.on_decided, clock=clock
                )
                # Overdue incident status updates page through the same loop, woken at their instants.
                ladder = run_overdue_updates(runtime, now)
                decided += ladder.paged
                ladder_wake = ladder.wake_at
            finally:
                if not burst:
                    pump.release_claims()
            if decided:
                delivery.flag.set()
            return decided

        def alert_due() -> datetime | None:
            due = next_decision_due(runtime)
            if ladder_wake is not None and (due is None or ladder_wake < due):
                due = ladder_wake
            # A burst of timers goes on while the next pass follows at once; it is over when the
            # loop would sleep (the hold never outlasts DECISIONS_FIRST_MAX either way).
            if due is None or due > clock():
                pump.release_claims()
            return due

        escalation = WorkerLoop("escalation", waker, escalate, alert_due, clock, stopping)
        loops = [escalation, delivery]
        threads = [
            threading.Thread(target=loop.run, name=f"pager-{loop.name}", daemon=True) for loop in loops
        ]
        self.heartbeat.register()
        job_runs = DaemonThreadExecutor()
        scheduler = build_scheduler(
            periodic_jobs(runtime, self._deadman(loops)), clock, job_runs, decisions_first=pump.deciding
        )
        scheduler.start()
        for thread in threads:
            thread.start()
        log.info("worker_started database=%s", self.runtime.engine.url.render_as_string(hide_password=True))
        if (lease_problem := sending_lease_problem(self.runtime.settings.sending_lease_seconds)) is not None:
            log.warning("sending_lease_short %s", lease_problem)
        tuned_gc = _GarbageCollectorTuning()
        try:
            while not self._stopping.wait(TICK_SECONDS):
                self.heartbeat.beat(oldest_pass(loops))
        finally:
            self._shut_down(scheduler, job_runs, threads, pump, listener)
            tuned_gc.restore()

    def _deadman(self, loops: Sequence[WorkerLoop]) -> DeadmanSwitch | None:
        url = self.runtime.settings.deadman_url
        if not url:
            return None

        def healthy() -> bool:
            oldest = oldest_pass(loops)
            return oldest is not None and self.clock() - oldest <= BEAT_STALE_AFTER

        return DeadmanSwitch(url, healthy, every=self.deadman_every)

    def _shut_down(
        self,
        scheduler: BackgroundScheduler,
        job_runs: DaemonThreadExecutor,
        threads: Sequence[threading.Thread],
        pump: DeliveryPump,
        listener: WakeListener,
    ) -> None:
        """Stop within SHUTDOWN_GRACE_SECONDS (plus the heartbeat's removal): nothing new is claimed,
        loops and periodic jobs' runs in progress finish, calls in flight finish or are left to
        reconciliation; what is still running at the deadline is left (daemon threads)."""
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        pump.stop_claiming()
        scheduler.shutdown(wait=False)  # no new job runs: no ping from a stopping worker
        self.heartbeat.remove()  # before waiting: a stopping worker no longer counts as alive
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        unfinished = [thread.name for thread in threads if thread.is_alive()]
        unfinished += job_runs.join_running(timeout=max(0.0, deadline - time.monotonic()))
        self.abandoned_sends = pump.shutdown(self.clock(), timeout=max(0.0, deadline - time.monotonic()))
        listener.stop()
        log.info(
            "worker_stopped unfinished_loops=%s abandoned_sends=%d",
            ",".join(unfinished) or "none",
            self.abandoned_sends,
        )

    def _install_signals(self) -> None:
        def on_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("worker_signal signal=%d stopping", signum)
            self.stop()

        def on_hup(_signum: int, _frame: FrameType | None) -> None:
            reload_and_sync(self.runtime, self.clock())

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


def run_worker(runtime: Runtime) -> int:
    """`pager worker`: run until SIGTERM/SIGINT; how many provider calls were left running."""
    worker = Worker(runtime)
    # A worker alone (no `pager serve` in its process) watches the config files itself: it is the one
    # that pages, so a schedule change must reach it without a restart or a SIGHUP.
    watcher = ConfigWatcher(runtime, clock=worker.clock)
    watcher.start()
    try:
        worker.run()
    finally:
        watcher.stop()
    return worker.abandoned_sends
