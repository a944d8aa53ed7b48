"""A worker proves it is alive: its heartbeat row, /readyz's figures, and a stuck loop stopping the beat."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from pager.core.readiness import BEAT_STALE_AFTER
from pager.db import heartbeats
from pager.db.session import session_scope
from pager.db.tables import WorkerHeartbeat
from pager.services.alerting import catalog
from pager.services.operations.heartbeat import HEARTBEAT_EVERY, Heartbeat
from pager.services.operations.readiness import check_readiness
from pager.services.runtime import Runtime
from pager.worker import Worker
from tests.services.test_engine import write_config
from tests.support import Clock, console_runtime

pytestmark = pytest.mark.database

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    built = console_runtime(engine, write_config(tmp_path / "config"))
    with session_scope(engine) as session:
        catalog.sync_services(session, built.config, T0)
    return built


def rows(engine: Engine) -> list[WorkerHeartbeat]:
    with session_scope(engine, read_only=True) as session:
        return list(session.exec(select(WorkerHeartbeat)).all())


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_heartbeat_registers_writes_at_most_every_two_seconds_and_is_removed(engine: Engine) -> None:
    clock = Clock(T0)
    beat = Heartbeat(engine, clock)
    assert beat.register()
    [row] = rows(engine)
    assert (row.worker_id, row.started_at, row.beat_at) == (beat.worker_id, T0, T0)
    assert len(beat.worker_id) == 32

    assert not beat.beat(T0 + HEARTBEAT_EVERY - timedelta(milliseconds=1))  # too soon: not written
    assert rows(engine)[0].beat_at == T0
    assert beat.beat(T0 + HEARTBEAT_EVERY)
    assert rows(engine)[0].beat_at == T0 + HEARTBEAT_EVERY
    assert not beat.beat(None)  # a loop that never completed a pass writes nothing

    beat.remove()
    assert rows(engine) == []


def test_a_deleted_row_is_registered_again_by_the_next_beat(engine: Engine) -> None:
    beat = Heartbeat(engine, Clock(T0))
    beat.register()
    with session_scope(engine) as session:
        heartbeats.remove(session, beat.worker_id)
    assert beat.beat(T0 + timedelta(seconds=5))
    assert [row.worker_id for row in rows(engine)] == [beat.worker_id]
    beat.remove()


def test_starting_forgets_rows_of_workers_dead_for_a_day_and_only_those(engine: Engine) -> None:
    old, recent = (
        Heartbeat(engine, Clock(T0 - timedelta(days=2))),
        Heartbeat(engine, Clock(T0 - timedelta(hours=1))),
    )
    old.register()
    recent.register()
    Heartbeat(engine, Clock(T0)).register()
    assert old.worker_id not in {row.worker_id for row in rows(engine)}
    assert recent.worker_id in {row.worker_id for row in rows(engine)}


def test_a_heartbeat_on_a_database_that_does_not_answer_logs_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from pager.db.session import create_db_engine

    broken = create_db_engine(f"sqlite:///{tmp_path / 'missing' / 'pager.db'}")  # its folder does not exist
    beat = Heartbeat(broken, Clock(T0))
    assert not beat.register()
    assert not beat.beat(T0 + timedelta(seconds=5))
    beat.remove()
    assert "heartbeat_failed" in caplog.text
    assert not check_readiness(broken, T0).ready


class StuckEscalations:
    """Stands in for run_due_escalations: the first pass returns, the next ones wait for `release`."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.passes = 0

    def __call__(self, *_args: Any, **_kwargs: Any) -> int:
        self.passes += 1
        if self.passes > 1:
            self.release.wait(timeout=30)
        return 0


@pytest.fixture
def stuck(monkeypatch: pytest.MonkeyPatch) -> Iterator[StuckEscalations]:
    fake = StuckEscalations()
    monkeypatch.setattr("pager.worker.run_due_escalations", fake)
    yield fake
    fake.release.set()


def test_a_stuck_loop_stops_the_beat_and_readiness_turns_red_while_the_other_loop_runs(
    runtime: Runtime, stuck: StuckEscalations
) -> None:
    clock = Clock(T0)
    worker = Worker(runtime, clock)
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        wait_for("the worker's row", lambda: rows(runtime.engine))
        wait_for("the escalation loop to be stuck", lambda: stuck.passes > 1)
        assert check_readiness(runtime.engine, T0 + timedelta(seconds=1)).ready

        # Time goes on; the delivery loop keeps completing passes, the escalation loop does not.
        clock.now = T0 + BEAT_STALE_AFTER + timedelta(seconds=5)
        time.sleep(2.5)  # two of the main thread's one-second wake-ups: it would have beaten by now
        assert rows(runtime.engine)[0].beat_at == T0
        verdict = check_readiness(runtime.engine, clock.now)
        assert [check.name for check in verdict.failed] == ["worker"]

        stuck.release.set()  # the loop comes back: the beat moves on, readiness is green again
        wait_for("the beat to move", lambda: rows(runtime.engine)[0].beat_at == clock.now)
        assert check_readiness(runtime.engine, clock.now).ready
    finally:
        stuck.release.set()
        worker.stop()
        thread.join(timeout=15)
    assert not thread.is_alive()
    assert rows(runtime.engine) == []  # a clean stop deletes the row


def test_a_beat_waits_for_this_process_s_writer_at_most_its_bound_then_gives_up(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("pager.services.operations.heartbeat.HEARTBEAT_WAIT", timedelta(milliseconds=200))
    beat = Heartbeat(engine, Clock(T0))
    beat.register()
    holding, done = threading.Event(), threading.Event()

    def long_writer() -> None:
        with session_scope(engine):  # a writer of this process that keeps the writer slot
            holding.set()
            done.wait(timeout=10)

    writer = threading.Thread(target=long_writer)
    writer.start()
    try:
        holding.wait(timeout=5)
        started = time.monotonic()
        written = beat.beat(T0 + timedelta(seconds=5))
        waited = time.monotonic() - started
    finally:
        done.set()
        writer.join(timeout=10)
    if engine.url.get_backend_name() == "sqlite":
        assert not written and waited < 1.0
        assert "step=beat error=writer_lock_busy" in caplog.text
        assert beat.beat(T0 + timedelta(seconds=6))  # the next beat, once the writer is done
    else:  # Postgres has no process-wide writer: the beat never waited for it
        assert written
    assert rows(engine)[0].beat_at == T0 + timedelta(
        seconds=6 if engine.url.get_backend_name() == "sqlite" else 5
    )
    beat.remove()
