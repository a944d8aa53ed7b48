"""The worker's periodic jobs, run by APScheduler: the reconcile sweep, handoff messages and shift
reminders, incidents declared from alerts, housekeeping, the dead-man's ping.

Work that must start within milliseconds of being asked for (a trigger's pages, a timer falling
due) is not here: the worker's two loops wake for it (pager.worker). What is here runs on a
cadence, whatever happens: each job is an APScheduler interval job (max_instances=1, so a slow run
is never doubled; coalesce=True, so runs missed while the process was frozen become one), started
on a daemon thread of its own so that a hanging provider call or ping never holds up the worker's
stop or the process's exit. APScheduler decides when a job runs, by the wall clock; the job body
takes `now` from the worker's clock, so tests that inject time see their own instant.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.util import undefined
from sqlalchemy.exc import InterfaceError, OperationalError

from pager.services.calendars.handoffs import HANDOFF_CHECK_EVERY, run_handoffs
from pager.services.delivery.reconciliation import RECONCILE_EVERY, reconcile_uncertain
from pager.services.incidents.automatic import AUTO_DECLARE_EVERY, AutoDeclare
from pager.services.incidents.reminders import (
    ACTION_ITEM_REMINDER_EVERY,
    POSTMORTEM_REMINDER_EVERY,
    remind_action_item_owners,
    remind_postmortems_due,
)
from pager.services.integrations.webhook_delivery import WEBHOOKS_EVERY, run_webhooks
from pager.services.operations.deadman import DeadmanSwitch
from pager.services.operations.housekeeping import HOUSEKEEPING_EVERY, prune_expired
from pager.services.runtime import Runtime

log = logging.getLogger("pager.worker")

# A reconcile run may start this late: it is due every second, and a busy interpreter (a burst of
# decisions on two cores) delays a thread by more than that without anything being wrong.
RECONCILE_GRACE = timedelta(seconds=30)


@dataclass(frozen=True)
class PeriodicJob:
    """One periodic job: `work(now)` every `every`, first at the worker's start or after one interval.

    `misfire_grace` is how late a run may still start (APScheduler's misfire_grace_time): later
    than that, the process was frozen or starved, the run is dropped with a warning, and the next
    one comes on time. `yields`: a run that falls while the worker decides a burst of due timers
    (`decisions_first`, see build_scheduler) does nothing; the next, seconds later, does the work.
    """

    id: str
    every: timedelta
    work: Callable[[datetime], int]
    at_start: bool
    misfire_grace: timedelta
    yields: bool = False


def periodic_jobs(runtime: Runtime, deadman: DeadmanSwitch | None = None) -> list[PeriodicJob]:
    """The worker's periodic jobs (the dead-man's ping only with a switch, i.e. PAGER_DEADMAN_URL)."""

    def reconcile(now: datetime) -> int:
        # Pages whose outcome is unknown, or left `sending` past their lease by a worker that died:
        # asked about at the provider here, off the delivery loop, so a slow lookup delays no
        # claim. A page the provider has no record of is pending again: the delivery loop sends it.
        reconciled = reconcile_uncertain(runtime, now)
        if reconciled:
            runtime.waker.wake("delivery")
        return reconciled

    jobs = [
        PeriodicJob(
            "reconcile", RECONCILE_EVERY, reconcile, at_start=True, misfire_grace=RECONCILE_GRACE, yields=True
        ),
        # Handoffs fall due at instants the schedules say, not in the database: the job looks every
        # few seconds; a durable cursor per schedule makes each handoff's message go out once.
        PeriodicJob(
            "handoffs",
            HANDOFF_CHECK_EVERY,
            lambda now: run_handoffs(runtime, now),
            at_start=True,
            misfire_grace=RECONCILE_GRACE,
            yields=True,
        ),
        # Alerts triggered since the last pass open an incident (incidents.yaml `declare`) or join
        # the open incident of their service; a cursor in memory, an overlap, a link made once.
        PeriodicJob(
            "incidents",
            AUTO_DECLARE_EVERY,
            AutoDeclare(runtime).run,
            at_start=True,
            misfire_grace=RECONCILE_GRACE,
            yields=True,
        ),
        # Outgoing webhooks: new timeline entries become deliveries, due deliveries are posted
        # (docs/integrations.md). Off the delivery loop: a slow receiver never delays a page.
        PeriodicJob(
            "webhooks",
            WEBHOOKS_EVERY,
            lambda now: run_webhooks(runtime, now),
            at_start=True,
            misfire_grace=RECONCILE_GRACE,
            yields=True,
        ),
        PeriodicJob(
            "housekeeping",
            HOUSEKEEPING_EVERY,
            lambda now: prune_expired(runtime.engine, now),
            at_start=True,
            misfire_grace=HOUSEKEEPING_EVERY,
        ),
        # Incident reminders (docs/incidents.md): an overdue postmortem pages its commander once, an
        # overdue action item its owner once a local day; cause keys make a repeated run send once.
        PeriodicJob(
            "postmortem_reminders",
            POSTMORTEM_REMINDER_EVERY,
            lambda now: remind_postmortems_due(runtime, now),
            at_start=True,
            misfire_grace=POSTMORTEM_REMINDER_EVERY,
        ),
        PeriodicJob(
            "action_item_reminders",
            ACTION_ITEM_REMINDER_EVERY,
            lambda now: remind_action_item_owners(runtime, now),
            at_start=True,
            misfire_grace=ACTION_ITEM_REMINDER_EVERY,
        ),
    ]
    if deadman is not None:
        # The first ping after one interval: before that the loops have not proven themselves.
        every = timedelta(seconds=deadman.every)
        jobs.append(PeriodicJob("deadman", every, lambda _now: int(deadman.ping_if_healthy()), False, every))
    return jobs


class _JobRun:
    """A job's body as APScheduler calls it: `now` from the worker's clock; failures logged, never raised.

    While the database is away a job says so once, not with a traceback every run.
    """

    def __init__(
        self, job: PeriodicJob, clock: Callable[[], datetime], decisions_first: Callable[[datetime], bool]
    ) -> None:
        self.job = job
        self.clock = clock
        self.decisions_first = decisions_first
        self.database_away = False
        self.runs = 0
        self.yielded = 0

    def __call__(self) -> int:
        name = self.job.id
        now = self.clock()
        if self.job.yields and self.decisions_first(now):
            self.yielded += 1
            return 0
        try:
            done = self.job.work(now)
        except (OperationalError, InterfaceError) as exc:
            if not self.database_away:
                error = " ".join(str(exc.orig).split())
                log.warning("database_unavailable job=%s error=%r; retrying on its schedule", name, error)
            self.database_away = True
            return 0
        except Exception:
            log.exception("job_failed job=%s", name)
            return 0
        if self.database_away:
            log.info("database_back job=%s", name)
        self.database_away = False
        self.runs += 1
        if done:
            log.info("job_ran job=%s items=%d", name, done)
        return done


class DaemonThreadExecutor(BaseExecutor):  # type: ignore[misc]
    """Runs each job run on a daemon thread (`pager-job-<id>`).

    APScheduler's thread pool is joined when the interpreter exits: a provider call or a ping
    hanging there would hold up the exit of a stopped worker. max_instances still bounds how many
    runs of one job exist at once.
    """

    def __init__(self) -> None:
        super().__init__()
        self._running: set[threading.Thread] = set()
        self._guard = threading.Lock()

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def run() -> None:
            try:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            except BaseException as exc:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, events)
            finally:
                with self._guard:
                    self._running.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"pager-job-{job.id}", daemon=True)
        with self._guard:
            self._running.add(thread)
        thread.start()

    def join_running(self, timeout: float) -> list[str]:
        """Wait at most `timeout` seconds for the job runs in progress; the names of those still running.

        A stopping worker lets a run finish its transaction rather than leave it to the process's
        exit (or, in one process with other work, to whatever comes next on the database).
        """
        deadline = time.monotonic() + timeout
        with self._guard:
            running = list(self._running)
        for thread in running:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return sorted(thread.name for thread in running if thread.is_alive())


def build_scheduler(
    jobs: Sequence[PeriodicJob],
    clock: Callable[[], datetime],
    executor: DaemonThreadExecutor | None = None,
    decisions_first: Callable[[datetime], bool] = lambda _now: False,
) -> BackgroundScheduler:
    """A BackgroundScheduler, not started, holding `jobs` (job id = PeriodicJob.id), whose runs go to
    `executor` (a new DaemonThreadExecutor if None).

    `decisions_first(now)`: the worker is deciding a burst of due timers (DeliveryPump.deciding);
    a run of a job that `yields` then does nothing. The jobs' threads share the interpreter with
    the decisions: four of them waking in the same second stretched one batch of 200 decisions from
    20 ms to 270 ms and doubled the burst's lateness (bench/escalation.py, p50 0.31-0.44 s -> 0.17 s).
    """
    executor = executor if executor is not None else DaemonThreadExecutor()
    scheduler = BackgroundScheduler(timezone=UTC, executors={"default": executor})
    for job in jobs:
        scheduler.add_job(
            _JobRun(job, clock, decisions_first),
            "interval",
            seconds=job.every.total_seconds(),
            id=job.id,
            name=job.id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, math.ceil(job.misfire_grace.total_seconds())),  # whole seconds
            next_run_time=datetime.now(UTC) if job.at_start else undefined,
        )
    return scheduler
