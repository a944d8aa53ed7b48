"""The worker's periodic jobs on APScheduler: each is scheduled with its interval and options, each runs
when due, and each takes `now` from the worker's clock (a fixed T0 here, far from the wall clock)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlmodel import select

from pager.adapters.delivery import DeliveryOutcome, DeliveryResult, Method, Page
from pager.db.provider_requests import claim_request
from pager.db.session import session_scope
from pager.db.tables import HandledProviderRequest, OutboxMessage, TimelineEntry
from pager.services.alerting import alerts, catalog
from pager.services.operations.deadman import DeadmanSwitch
from pager.services.operations.housekeeping import REPLAY_KEY_RETENTION
from pager.services.people import users
from pager.services.runtime import Runtime
from pager.worker import Worker
from pager.worker_jobs import DaemonThreadExecutor, build_scheduler, periodic_jobs
from tests.services.test_deadman import PingCounter, wait_for
from tests.services.test_worker_shutdown import POLICIES, SCHEDULES
from tests.support import Clock, console_runtime, write_config

pytestmark = pytest.mark.database

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class KnownSms:
    """An SMS provider that never answers a send, and has a record of every page it is asked about."""

    method: Method = "sms"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def send(self, page: Page) -> DeliveryResult:
        return DeliveryResult(DeliveryOutcome.UNKNOWN, error="timed out")

    def reconcile(self, page: Page, attempted_at: datetime) -> str | None:
        self.asked.append(page.idempotency_key)
        return "SM-known"


@pytest.fixture
def sms() -> KnownSms:
    return KnownSms()


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path, sms: KnownSms) -> Runtime:
    """An SMS page of T0 whose outcome is unknown, and two handled request keys: one older than the
    retention at T0, one not."""
    built = console_runtime(engine, write_config(tmp_path / "config", SCHEDULES, POLICIES), {"sms": sms})
    with session_scope(engine) as session:
        users.add_user(session, handle="alice", name="Alice", now=T0, sms="+15550000001")
        catalog.sync_services(session, built.config, T0)
    alerts.trigger_alert(built, service_id="api", summary="Disk full", now=T0, dedup_key="d")
    with session_scope(engine) as session:
        for row in session.exec(select(OutboxMessage)):
            row.status, row.next_attempt_at, row.last_attempt_at = "unknown", None, T0
            session.add(row)
        claim_request(session, "sms:old", T0 - REPLAY_KEY_RETENTION - timedelta(minutes=1))
        claim_request(session, "sms:recent", T0 - REPLAY_KEY_RETENTION + timedelta(days=1))
    return built


def sms_rows(runtime: Runtime) -> list[tuple[str, str | None]]:
    with session_scope(runtime.engine, read_only=True) as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.method == "sms")).all()
        return [(row.status, row.provider_id) for row in rows]


def reconciled_at(runtime: Runtime) -> list[datetime]:
    with session_scope(runtime.engine, read_only=True) as session:
        entries = session.exec(select(TimelineEntry).where(TimelineEntry.kind == "page_reconciled")).all()
        return [entry.at for entry in entries]


def request_keys(runtime: Runtime) -> list[str]:
    with session_scope(runtime.engine, read_only=True) as session:
        return sorted(row.request_key for row in session.exec(select(HandledProviderRequest)))


@pytest.fixture
def checker() -> Iterator[PingCounter]:
    with PingCounter() as server:
        yield server


@pytest.fixture
def started() -> Iterator[list[BackgroundScheduler]]:
    """Schedulers a test starts, shut down at its end."""
    schedulers: list[BackgroundScheduler] = []
    yield schedulers
    for scheduler in schedulers:
        if scheduler.running:
            scheduler.shutdown(wait=False)


def test_each_job_is_scheduled_with_its_interval_and_runs_at_once_or_after_one_interval(
    runtime: Runtime, checker: PingCounter, started: list[BackgroundScheduler]
) -> None:
    switch = DeadmanSwitch(checker.url, lambda: True, every=60)
    scheduler = build_scheduler(periodic_jobs(runtime, switch), Clock(T0))
    started.append(scheduler)
    before = datetime.now(UTC)
    scheduler.start(paused=True)  # computes each job's first run; runs nothing
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert {name: job.trigger.interval for name, job in jobs.items()} == {
        "reconcile": timedelta(seconds=1),
        "handoffs": timedelta(seconds=5),
        "incidents": timedelta(seconds=2),
        "webhooks": timedelta(seconds=1),
        "housekeeping": timedelta(hours=1),
        "postmortem_reminders": timedelta(minutes=1),
        "action_item_reminders": timedelta(minutes=5),
        "deadman": timedelta(seconds=60),
    }
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
    # A run later than this (seconds) is dropped, and the next one comes on time.
    assert {name: job.misfire_grace_time for name, job in jobs.items()} == {
        "reconcile": 30,
        "handoffs": 30,
        "incidents": 30,
        "webhooks": 30,
        "housekeeping": 3600,
        "postmortem_reminders": 60,
        "action_item_reminders": 300,
        "deadman": 60,
    }
    # Reconcile, handoffs and housekeeping are due when the worker starts; the ping one interval after.
    assert jobs["reconcile"].next_run_time <= datetime.now(UTC)
    assert jobs["handoffs"].next_run_time <= datetime.now(UTC)
    assert jobs["housekeeping"].next_run_time <= datetime.now(UTC)
    assert jobs["webhooks"].next_run_time <= datetime.now(UTC)
    assert jobs["deadman"].next_run_time >= before + timedelta(seconds=59)
    # The scheduler's own arithmetic at an injected instant: then every interval after that.
    for job in jobs.values():
        at = job.next_run_time
        assert job.trigger.get_next_fire_time(at, at) == at + job.trigger.interval
    assert checker.count == 0

    without = build_scheduler(periodic_jobs(runtime), Clock(T0))
    assert {job.id for job in without.get_jobs()} == {
        "reconcile",
        "handoffs",
        "incidents",
        "webhooks",
        "housekeeping",
        "postmortem_reminders",
        "action_item_reminders",
    }


def test_every_job_runs_when_due_with_now_from_the_worker_clock(
    runtime: Runtime, sms: KnownSms, checker: PingCounter, started: list[BackgroundScheduler]
) -> None:
    delivery = runtime.waker.subscribe("delivery")
    switch = DeadmanSwitch(checker.url, lambda: True, every=60)
    scheduler = build_scheduler(periodic_jobs(runtime, switch), Clock(T0))
    started.append(scheduler)
    scheduler.start(paused=True)
    for job in scheduler.get_jobs():
        job.modify(next_run_time=datetime.now(UTC))  # due now, by the scheduler's clock
    scheduler.resume()
    wait_for("the ping", lambda: checker.count >= 1)
    wait_for("the reconcile", lambda: sms_rows(runtime)[0][0] == "sent")
    wait_for("the housekeeping", lambda: request_keys(runtime) == ["sms:recent"])
    scheduler.shutdown(wait=False)
    # Reconciled at the worker clock's T0 (the wall clock is months later), and the key of T0 minus a
    # day less than the retention is kept: both jobs read `now` from the worker's clock.
    assert sms_rows(runtime) == [("sent", "SM-known")]
    assert reconciled_at(runtime) == [T0]
    assert len(sms.asked) == 1
    assert delivery.is_set()  # a reconciled page may be pending again: the delivery loop looks


def test_jobs_run_every_few_seconds_yield_while_a_burst_of_timers_is_decided(
    runtime: Runtime, sms: KnownSms
) -> None:
    # Their threads share the interpreter with the decisions; the cadence jobs (seconds apart) skip
    # a run that falls in a burst, the others never do (their next run is minutes or an hour off).
    deciding_until = T0 + timedelta(seconds=3)
    scheduler = build_scheduler(
        periodic_jobs(runtime), Clock(T0), decisions_first=lambda now: now < deciding_until
    )
    runs = {job.id: job.func for job in scheduler.get_jobs()}
    assert {name for name, run in runs.items() if run.job.yields} == {
        "reconcile",
        "handoffs",
        "incidents",
        "webhooks",
    }
    for run in runs.values():
        run()
    assert {name for name, run in runs.items() if run.yielded} == {
        "reconcile",
        "handoffs",
        "incidents",
        "webhooks",
    }
    assert sms.asked == [] and sms_rows(runtime) == [("unknown", None)]  # the reconcile did nothing
    assert request_keys(runtime) == ["sms:recent"]  # housekeeping ran

    later = build_scheduler(
        periodic_jobs(runtime), Clock(deciding_until), decisions_first=lambda now: now < deciding_until
    )
    reconcile = later.get_job("reconcile").func
    reconcile()
    assert reconcile.yielded == 0 and reconcile.runs == 1
    assert sms_rows(runtime) == [("sent", "SM-known")]


def test_a_running_worker_runs_its_periodic_jobs(
    runtime: Runtime, sms: KnownSms, checker: PingCounter, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"deadman_url": checker.url})
    schedulers: list[BackgroundScheduler] = []

    def recording(*args: Any, **kwargs: Any) -> BackgroundScheduler:
        schedulers.append(build_scheduler(*args, **kwargs))
        return schedulers[-1]

    monkeypatch.setattr("pager.worker.build_scheduler", recording)
    worker = Worker(runtime, Clock(T0), deadman_every=0.05)
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        wait_for("the scheduler", lambda: len(schedulers) == 1 and schedulers[0].running)
        jobs = {job.id: job.func for job in schedulers[0].get_jobs()}
        assert set(jobs) == {
            "reconcile",
            "handoffs",
            "incidents",
            "webhooks",
            "housekeeping",
            "postmortem_reminders",
            "action_item_reminders",
            "deadman",
        }
        wait_for("each job to run", lambda: all(run.runs >= 1 for run in jobs.values()))
        wait_for("the housekeeping", lambda: request_keys(runtime) == ["sms:recent"])
        wait_for("pings", lambda: checker.count >= 2)
    finally:
        worker.stop()
        thread.join(timeout=15)
    assert not thread.is_alive()
    assert not schedulers[0].running


def test_a_stopping_worker_waits_for_a_job_run_in_progress_within_its_timeout() -> None:
    """A job's run that has begun finishes its transaction before the worker is gone (the grace
    deadline still bounds it): left running, it met whatever came next on the database (in the
    Postgres CI, a test's DROP SCHEMA, and a deadlock)."""
    executor = DaemonThreadExecutor()
    scheduler = BackgroundScheduler(timezone=UTC, executors={"default": executor})
    started, release = threading.Event(), threading.Event()

    def slow_job() -> None:
        started.set()
        release.wait(10)

    # An interval job, as the worker's all are (`build_scheduler`). A one-off "date" job is removed
    # by the scheduler's thread once its run is handed over; when the shutdown below has already
    # marked the scheduler stopped (it does so before taking the job-store lock), that removal
    # looks among jobs not yet added and raises JobLookupError in the scheduler's thread (seen in
    # the Postgres CI pass). An interval job is updated in its store instead, which is still there.
    scheduler.add_job(slow_job, "interval", hours=1, next_run_time=datetime.now(UTC), id="slow")
    scheduler.start()
    assert started.wait(5)
    scheduler.shutdown(wait=False)
    assert executor.join_running(timeout=0.05) == ["pager-job-slow"]
    release.set()
    assert executor.join_running(timeout=5) == []
