"""A worker's heartbeat: its row in `worker_heartbeats`, moved as its loops complete passes.

The loops only note the instant each pass completed, in memory. The worker's main thread, which
wakes every second anyway, writes the OLDER of the two loops' instants at most once every
HEARTBEAT_EVERY: a loop that is stuck stops the beat even while the other one runs. The write is a
transaction of one UPDATE, which waits at most HEARTBEAT_WAIT for the database (and, on SQLite, for
this process's writer lock) and otherwise gives up until the next beat: the loops and the HTTP
server wait for it at most the few milliseconds of that one statement. Failures are logged, never
raised: a worker keeps paging whatever happens to its heartbeat.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from pager.db import heartbeats
from pager.db.heartbeats import HEARTBEAT_WAIT
from pager.db.session import WriterBusy, session_scope

log = logging.getLogger("pager.heartbeat")

HEARTBEAT_EVERY = timedelta(seconds=2)


class Heartbeat:
    """This worker's heartbeat row: `register()` at start, `beat(at)` often, `remove()` on a clean stop."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], worker_id: str | None = None) -> None:
        self.worker_id = worker_id or uuid.uuid4().hex
        self.clock = clock
        self._main_engine = engine
        self._engine: Engine | None = None
        self._registered = False
        self._written: datetime | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = heartbeats.heartbeat_engine(self._main_engine)
        return self._engine

    def register(self) -> bool:
        """Add the row (beat_at = now); False (logged) when the database refused."""
        now = self.clock()
        host, pid = socket.gethostname()[:255], os.getpid()
        if not self._write("register", lambda s: heartbeats.register(s, self.worker_id, host, pid, now)):
            return False
        self._registered, self._written = True, now
        log.info("heartbeat_registered worker=%s", self.worker_id)
        return True

    def beat(self, at: datetime | None) -> bool:
        """Write `at` (the older loop's last completed pass) when it moved HEARTBEAT_EVERY or more
        since the last write; True when written. None (a loop never completed a pass) writes nothing."""
        if at is None or (self._written is not None and at - self._written < HEARTBEAT_EVERY):
            return False
        if not self._registered:
            return self.register()
        found: list[bool] = []
        if not self._write("beat", lambda s: found.append(heartbeats.beat(s, self.worker_id, at))):
            return False
        if not found[0]:  # someone deleted the row: put it back
            self._registered = False
            return self.register()
        self._written = at
        return True

    def remove(self) -> None:
        """Delete the row (a clean stop) and close the heartbeat's own engine."""
        try:
            self._write("remove", lambda s: heartbeats.remove(s, self.worker_id))
        finally:
            if self._engine is not None and self._engine is not self._main_engine:
                self._engine.dispose()
            self._engine = None

    def _write(self, step: str, work: Callable[[Session], object]) -> bool:
        """Run `work` in one short transaction; False (logged) when it failed or had to wait too long.

        On SQLite the write queues at this process's writer lock like any other, but for at most
        HEARTBEAT_WAIT: it then gives up until the next beat. (Waiting at SQLite's own lock instead,
        whose busy handler polls, it could starve behind a storm of this process's writes.)
        """
        try:
            with session_scope(self.engine, writer_wait_s=HEARTBEAT_WAIT.total_seconds()) as session:
                heartbeats.bound_statements(session)
                work(session)
        except WriterBusy:
            log.warning("heartbeat_failed worker=%s step=%s error=writer_lock_busy", self.worker_id, step)
            return False
        except Exception as exc:
            log.warning("heartbeat_failed worker=%s step=%s error=%s", self.worker_id, step, _reason(exc))
            return False
        return True


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}:{str(exc).splitlines()[0][:200] if str(exc) else ''}"
