"""One loop of the worker (pager.worker): a kind of due work, run whenever woken and otherwise when
the database says it is due, at most TICK_SECONDS apart.

Each pass is timed (`pager_worker_loop_seconds`); a pass of SLOW_PASS_SECONDS or more is logged
(`loop_slow`), and a database that goes away is logged once (`database_unavailable`), not every pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.exc import InterfaceError, OperationalError

from pager.services.operations.metrics import WORKER_LOOP_SECONDS
from pager.services.operations.wakeup import Waker

# The worker's logger: a loop's lines are the worker's (operators filter on it, docs/operations.md).
log = logging.getLogger("pager.worker")

TICK_SECONDS = 1.0
# A loop whose last pass ended longer ago than this is busy in a long one, or stuck: work woken now
# would wait for it (an idle loop completes a pass every TICK_SECONDS).
FRESH_PASS_SECONDS = 2 * TICK_SECONDS
# A pass at least this long is logged (`loop_slow`): work woken meanwhile waits for it to end.
SLOW_PASS_SECONDS = 0.5


class WorkerLoop:
    """One kind of due work, run whenever woken and otherwise when the database says it is due."""

    def __init__(
        self,
        name: str,
        waker: Waker,
        work: Callable[[datetime], int],
        due: Callable[[], datetime | None],
        clock: Callable[[], datetime],
        stopping: threading.Event,
        ready: Callable[[], bool] | None = None,
        *,
        monotonic: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.name = name
        self._monotonic = monotonic
        self.work = work
        self.due = due
        self.clock = clock
        self.stopping = stopping
        self.waker = waker
        self.database_away = False
        # When the last pass that did not fail ended (read by the worker's heartbeat, its thread).
        self.completed_at: datetime | None = None
        self._seconds = WORKER_LOOP_SECONDS.labels(loop=name)
        self._ready = ready
        self.flag = waker.subscribe(name, takes_work=None if ready is None else self.takes_work)

    def takes_work(self) -> bool:
        """Woken now, this loop runs its work at once: it is running (a pass completed within
        FRESH_PASS_SECONDS), not stopping, and its `ready` says it can take more."""
        completed = self.completed_at
        if self._ready is None or completed is None or self.stopping.is_set():
            return False
        return (self.clock() - completed).total_seconds() <= FRESH_PASS_SECONDS and self._ready()

    def run(self) -> None:
        while not self.stopping.is_set():
            started = self._monotonic()
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
                self.completed_at = self.clock()
            took = self._monotonic() - started
            self._seconds.observe(took)
            if done:
                log.info("loop_ran loop=%s items=%d", self.name, done)
            # While the database is away a pass may wait out a connect timeout every tick: that
            # outage is logged once (database_unavailable), not once a pass.
            if took >= SLOW_PASS_SECONDS and not self.database_away:
                log.info("loop_slow loop=%s seconds=%.3f items=%d", self.name, took, done)
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


def oldest_pass(loops: Sequence[WorkerLoop]) -> datetime | None:
    """The older of the loops' last completed passes (None until every loop completed one)."""
    done = [loop.completed_at for loop in loops]
    return None if any(at is None for at in done) else min(at for at in done if at is not None)
