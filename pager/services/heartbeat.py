"""A worker's heartbeat: its row in `worker_heartbeats`, moved as its loops complete passes.

The loops only note the instant each pass completed, in memory. The worker's main thread, which
wakes every second anyway, writes the OLDER of the two loops' instants at most once every
HEARTBEAT_EVERY, in a transaction of one UPDATE through an engine of its own that waits at most
pager.db.heartbeats.HEARTBEAT_WAIT: the loops and the HTTP server never wait for it, and a loop that
is stuck stops the beat even while the other one runs. Failures are logged, never raised: a worker
keeps paging whatever happens to its heartbeat.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from pager.db import heartbeats
from pager.db.session import session_scope

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
        try:
            with session_scope(self.engine) as session:
                heartbeats.bound_statements(session)
                heartbeats.register(session, self.worker_id, socket.gethostname()[:255], os.getpid(), now)
        except Exception as exc:
            log.warning("heartbeat_failed worker=%s step=register error=%s", self.worker_id, _reason(exc))
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
        try:
            with session_scope(self.engine) as session:
                heartbeats.bound_statements(session)
                found = heartbeats.beat(session, self.worker_id, at)
        except Exception as exc:
            log.warning("heartbeat_failed worker=%s step=beat error=%s", self.worker_id, _reason(exc))
            return False
        if not found:  # someone deleted the row: put it back
            self._registered = False
            return self.register()
        self._written = at
        return True

    def remove(self) -> None:
        """Delete the row (a clean stop) and close the heartbeat's own engine."""
        try:
            with session_scope(self.engine) as session:
                heartbeats.bound_statements(session)
                heartbeats.remove(session, self.worker_id)
        except Exception as exc:
            log.warning("heartbeat_failed worker=%s step=remove error=%s", self.worker_id, _reason(exc))
        finally:
            if self._engine is not None and self._engine is not self._main_engine:
                self._engine.dispose()
            self._engine = None


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}:{str(exc).splitlines()[0][:200] if str(exc) else ''}"
