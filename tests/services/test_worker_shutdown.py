"""Stopping is bounded: nothing new is claimed, and a provider call that hangs is left for reconciliation."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from pager.adapters.delivery import DeliveryOutcome, DeliveryResult, Method, Page
from pager.db.session import session_scope
from pager.db.tables import OutboxMessage, WorkerHeartbeat
from pager.services.alerting import alerts, catalog
from pager.services.delivery.pump import DeliveryPump
from pager.services.people import users
from pager.services.runtime import Runtime
from pager.worker import Worker
from tests.support import console_runtime, write_config

pytestmark = pytest.mark.database

SCHEDULES = {
    "team": """\
        name: Team
        time_zone: UTC
        layers:
          - name: weekly
            members: [alice]
            start: 2026-01-05T09:00
            shift: 1w
        """
}
POLICIES = {
    "main": """\
        levels:
          - notify: [schedule:team]
            escalate_after: 10m
        services:
          - {id: api, name: API}
        """
}


class HangingSms:
    """An SMS provider whose calls hang until `release` (or 30 s)."""

    method: Method = "sms"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def send(self, page: Page) -> DeliveryResult:
        self.calls += 1
        self.release.wait(timeout=30)
        return DeliveryResult(DeliveryOutcome.SENT, provider_id=f"SM{page.alert_id}")

    def reconcile(self, page: Page, attempted_at: datetime) -> str | None:
        return None


@pytest.fixture
def sms() -> HangingSms:
    return HangingSms()


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path, sms: HangingSms) -> Runtime:
    built = console_runtime(engine, write_config(tmp_path / "config", SCHEDULES, POLICIES), {"sms": sms})
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        users.add_user(session, handle="alice", name="Alice", now=now, sms="+15550000001")
        catalog.sync_services(session, built.config, now)
    return built


def sms_statuses(runtime: Runtime) -> list[str]:
    with session_scope(runtime.engine, read_only=True) as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.method == "sms")).all()
        return [row.status for row in rows]


def wait_for_call(sms: HangingSms) -> None:
    deadline = time.monotonic() + 10
    while sms.calls == 0:
        assert time.monotonic() < deadline, "no provider call was made"
        time.sleep(0.01)


def test_pump_shutdown_waits_at_most_its_timeout_and_leaves_a_hanging_call_sending(
    runtime: Runtime, sms: HangingSms
) -> None:
    now = datetime.now(UTC)
    alerts.trigger_alert(runtime, service_id="api", summary="Disk full", now=now, dedup_key="d")
    pump = DeliveryPump(runtime)
    assert pump.run(now) == 1
    wait_for_call(sms)
    started = time.monotonic()
    assert pump.shutdown(now, timeout=0.3) == 1  # one call still in flight
    assert time.monotonic() - started < 2.0
    assert sms_statuses(runtime) == ["sending"]  # reconciled after the lease, never resent blindly
    assert pump.run(now) == 0  # a stopped pump claims nothing
    sms.release.set()


def test_pump_shutdown_records_a_call_that_finishes_in_time(runtime: Runtime, sms: HangingSms) -> None:
    now = datetime.now(UTC)
    alerts.trigger_alert(runtime, service_id="api", summary="Disk full", now=now, dedup_key="d")
    pump = DeliveryPump(runtime)
    pump.run(now)
    wait_for_call(sms)
    threading.Timer(0.2, sms.release.set).start()
    assert pump.shutdown(now, timeout=10) == 0
    assert sms_statuses(runtime) == ["sent"]


def test_a_worker_stops_within_its_grace_though_a_provider_call_hangs(
    runtime: Runtime, sms: HangingSms, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pager.worker.SHUTDOWN_GRACE_SECONDS", 1.0)
    worker = Worker(runtime)
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        now = datetime.now(UTC)
        alerts.trigger_alert(runtime, service_id="api", summary="Disk full", now=now, dedup_key="d")
        wait_for_call(sms)
        started = time.monotonic()
        worker.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert time.monotonic() - started < 3.0
    finally:
        sms.release.set()
    assert worker.abandoned_sends == 1
    assert sms_statuses(runtime) == ["sending"]
    with session_scope(runtime.engine, read_only=True) as session:
        assert session.exec(select(WorkerHeartbeat)).all() == []


@pytest.mark.parametrize(("lease", "warned"), [(14.9, True), (15.0, False), (30.0, False)])
def test_a_worker_warns_at_start_of_a_lease_a_live_send_can_outlast(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture, lease: float, warned: bool
) -> None:
    config_dir = write_config(tmp_path / "config", SCHEDULES, POLICIES)
    worker = Worker(console_runtime(engine, config_dir, sending_lease_seconds=lease))
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    with caplog.at_level(logging.INFO, logger="pager.worker"):
        thread.start()
        deadline = time.monotonic() + 10
        while "worker_started" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.01)  # the worker's own thread logs it
        worker.stop()
        thread.join(timeout=10)
    assert "worker_started" in caplog.text
    warnings = [r.getMessage() for r in caplog.records if "sending_lease_short" in r.getMessage()]
    if warned:
        assert warnings == [
            "sending_lease_short PAGER_SENDING_LEASE_SECONDS is 14.9 s, shorter than a live send can take "
            "(5 s waiting for a sender + the providers' 10 s timeout): a slow page still in flight could "
            "be reconciled and sent twice"
        ]
    else:
        assert warnings == []


def test_a_running_workers_delivery_loop_answers_for_new_pages_until_it_stops(
    runtime: Runtime, sms: HangingSms
) -> None:
    # What lets a trigger skip waking the workers of other processes (wake_workers).
    assert runtime.waker.wake("delivery") is False  # no worker in this process yet
    worker = Worker(runtime)
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not runtime.waker.wake("delivery"):  # once its delivery loop completed a pass
            assert time.monotonic() < deadline, "the running worker never answered for new pages"
            time.sleep(0.01)
    finally:
        worker.stop()
        thread.join(timeout=10)
        sms.release.set()
    assert not thread.is_alive()
    assert runtime.waker.wake("delivery") is False
