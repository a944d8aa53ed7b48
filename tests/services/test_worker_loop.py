"""The worker's loops while the database is away: one line when it goes, one when it is back."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import OperationalError

from pager.services.operations.wakeup import Waker
from pager.worker import _Loop

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

    loop = _Loop("delivery", Waker(), work, lambda: T0, lambda: T0, stopping)
    with caplog.at_level(logging.INFO, logger="pager.worker"):
        loop.run()

    lines = [r.getMessage() for r in caplog.records]
    away = [line for line in lines if line.startswith("database_unavailable loop=delivery")]
    back = [line for line in lines if line == "database_back loop=delivery"]
    assert len(away) == 2 and "connection refused" in away[0], lines  # once per outage
    assert len(back) == 2, lines
    assert not [r for r in caplog.records if r.exc_info], "a traceback per pass while the database is away"
    assert "loop_ran loop=delivery items=2" in lines
