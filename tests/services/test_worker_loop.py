"""The worker's loops: the database away (one line when it goes, one when it is back), waking, slow passes."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError

from pager.services.operations.wakeup import Waker
from pager.worker_loop import FRESH_PASS_SECONDS, SLOW_PASS_SECONDS, WorkerLoop

T0 = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)


def test_a_loop_reports_the_database_away_once_and_back_once(caplog: pytest.LogCaptureFixture) -> None:
    stopping = threading.Event()
    outcomes: list[int | Exception] = [
        *[OperationalError("COMMIT", {}, ConnectionRefusedError("connection refused")) for _ in range(3)],
        2,
        OperationalError("SELECT", {}, ConnectionRefusedError("connection refused")),
        0,
    ]
    passes = iter(outcomes)

    def work(_now: datetime) -> int:
        outcome = next(passes)
        if isinstance(outcome, Exception):
            raise outcome
        if outcome == 0:
            stopping.set()
        return outcome

    loop = WorkerLoop("delivery", Waker(), work, lambda: T0, lambda: T0, stopping)
    with caplog.at_level(logging.INFO, logger="pager.worker"):
        loop.run()

    lines = [r.getMessage() for r in caplog.records]
    away = [line for line in lines if line.startswith("database_unavailable loop=delivery")]
    back = [line for line in lines if line == "database_back loop=delivery"]
    assert len(away) == 2 and "connection refused" in away[0], lines  # once per outage
    assert len(back) == 2, lines
    assert not [r for r in caplog.records if r.exc_info], "a traceback per pass while the database is away"
    assert "loop_ran loop=delivery items=2" in lines


def test_a_loop_takes_work_at_once_only_while_running_fresh_passes_and_ready() -> None:
    now = {"at": T0}
    ready = {"yes": True}
    stopping = threading.Event()
    loop = WorkerLoop(
        "delivery",
        Waker(),
        lambda _now: 0,
        lambda: None,
        lambda: now["at"],
        stopping,
        ready=lambda: ready["yes"],
    )
    assert not loop.takes_work()  # no pass completed yet: not running
    loop.completed_at = T0
    assert loop.takes_work()
    now["at"] = T0 + timedelta(seconds=FRESH_PASS_SECONDS)
    assert loop.takes_work()
    now["at"] = T0 + timedelta(seconds=FRESH_PASS_SECONDS + 0.5)  # busy in a long pass, or stuck
    assert not loop.takes_work()
    now["at"] = T0
    ready["yes"] = False  # e.g. every sender busy
    assert not loop.takes_work()
    ready["yes"] = True
    stopping.set()
    assert not loop.takes_work()
    plain = WorkerLoop("escalation", Waker(), lambda _now: 0, lambda: None, lambda: T0, threading.Event())
    plain.completed_at = T0
    assert not plain.takes_work()  # a loop without `ready` never answers for its work


def test_a_slow_pass_is_logged_with_its_duration(caplog: pytest.LogCaptureFixture) -> None:
    # Woken work waits for the pass in progress: a long one says so, so a late page can be told
    # from a lost wake-up in the worker's log alone. A pass failing on a database that is away (a
    # connect timeout each tick) is not: the outage has its own single line.
    stopping = threading.Event()
    elapsed = {"s": 0.0}
    away = OperationalError("SELECT", {}, TimeoutError("connection timeout expired"))
    # (seconds, items or the error); binary fractions, so the sums are exact
    passes = iter([(0.25, 1), (SLOW_PASS_SECONDS, 0), (2.0, away), (1.25, 3)])

    def work(_now: datetime) -> int:
        took, outcome = next(passes)
        elapsed["s"] += took
        if isinstance(outcome, Exception):
            raise outcome
        if took == 1.25:
            stopping.set()
        return outcome

    loop = WorkerLoop(
        "delivery", Waker(), work, lambda: T0, lambda: T0, stopping, monotonic=lambda: elapsed["s"]
    )
    with caplog.at_level(logging.INFO, logger="pager.worker"):
        loop.run()

    slow = [r.getMessage() for r in caplog.records if r.getMessage().startswith("loop_slow")]
    assert slow == [
        "loop_slow loop=delivery seconds=0.500 items=0",
        "loop_slow loop=delivery seconds=1.250 items=3",
    ]
