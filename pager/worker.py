"""The worker: runs due escalations and the outbox, woken at once for new work, ticked every second.

APScheduler 3.x only ticks (interval 1 s, misfire_grace_time=None, coalesce=True): the tick and
every wake-up (in-process trigger, Postgres NOTIFY, the SQLite wake socket) set one event, and a
single loop runs the work. Between runs it sleeps until the earliest due instant in the database
(at most a second), so a timer fires on time rather than on the next tick. All timers live in the
database, so a restarted worker picks up everything that fell due while it was down.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, or_
from sqlmodel import col, select

from pager.db.session import session_scope
from pager.db.tables import Alert, OutboxMessage
from pager.services.catalog import sync_services
from pager.services.delivery import reconcile_uncertain, run_due_deliveries
from pager.services.escalation import run_due_escalations
from pager.services.runtime import Runtime
from pager.services.wakeup import WakeListener

log = logging.getLogger("pager.worker")

TICK_SECONDS = 1.0


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
    """One run of everything due at `now`: escalations first (they queue pages), then delivery."""
    escalated = run_due_escalations(runtime, now)
    reconciled = reconcile_uncertain(runtime, now)
    sent = run_due_deliveries(runtime, now)
    return TickReport(escalated, reconciled, sent)


def next_due(runtime: Runtime) -> datetime | None:
    """The earliest instant at which the database says there is work (None: nothing scheduled)."""
    with session_scope(runtime.engine, read_only=True) as session:
        alert_due = session.exec(
            select(func.min(Alert.next_action_at)).where(col(Alert.status) != "resolved")
        ).one()
        page_due = session.exec(
            select(func.min(func.coalesce(OutboxMessage.next_attempt_at, OutboxMessage.due_at))).where(
                or_(col(OutboxMessage.status).in_(["pending", "unknown"]))
            )
        ).one()
    candidates = [instant for instant in (alert_due, page_due) if instant is not None]
    return min(_aware(c) for c in candidates) if candidates else None


def _aware(instant: datetime) -> datetime:
    # Aggregates bypass the column type, so SQLite hands back naive UTC text.
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant


class Worker:
    """Runs `tick` whenever woken; `stop()` (or SIGTERM/SIGINT) ends `run()`; SIGHUP reloads config."""

    def __init__(self, runtime: Runtime, clock: Callable[[], datetime] = utc_now) -> None:
        self.runtime = runtime
        self.clock = clock
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
        scheduler.start()
        log.info("worker_started database=%s", self.runtime.engine.url.render_as_string(hide_password=True))
        try:
            while not self._stopping.is_set():
                self.run_once()
                self.runtime.waker.wait(self._sleep_seconds())
        finally:
            scheduler.shutdown(wait=False)
            listener.stop()
            log.info("worker_stopped")

    def run_once(self) -> TickReport | None:
        """One tick; a failure is logged and the loop goes on (the database keeps the work)."""
        try:
            report = tick(self.runtime, self.clock())
        except Exception:
            log.exception("tick_failed")
            return None
        if report.escalated or report.reconciled or report.sent:
            log.info(
                "tick escalated=%d reconciled=%d sent=%d", report.escalated, report.reconciled, report.sent
            )
        return report

    def _sleep_seconds(self) -> float:
        try:
            due = next_due(self.runtime)
        except Exception:
            log.exception("next_due_failed")
            return TICK_SECONDS
        if due is None:
            return TICK_SECONDS
        return max(0.0, min(TICK_SECONDS, (due - self.clock()).total_seconds()))

    def _install_signals(self) -> None:
        def on_stop(signum: int, _frame: FrameType | None) -> None:
            log.info("worker_signal signal=%d stopping", signum)
            self.stop()

        def on_hup(_signum: int, _frame: FrameType | None) -> None:
            if self.runtime.reload_config():
                log.info("config_reloaded")

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)


def run_worker(runtime: Runtime) -> None:
    """`pager worker`: run until SIGTERM/SIGINT."""
    Worker(runtime).run()
