"""One blocking read at a time for a route anyone may call, shared by the requests that arrive
while it runs.

/readyz and /metrics need no token (probes and scrapers call them) and each reads the database.
As plain routes, 50 requests for either on a slow database took every one of the server's 40
shared worker threads and the 15 connections of the database pool, and a trigger waited behind them
for a thread and then for a connection. Through a `SingleFlight`, a route's reads run on a thread of
their own, one at a time: a request that arrives while one runs waits for it on the event loop (no
thread, no connection) and is answered with its result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from starlette.requests import Request

from pager.api.app_state import app_object

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """Runs `work` on a thread of its own, one call at a time; callers that come while a call runs
    share its result (or its exception)."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"pager-{name}")
        self._lock = threading.Lock()
        self._running: Future[T] | None = None

    async def result(self, work: Callable[[], T]) -> T:
        """The result of the call running now, or of a new call of `work` when none is."""
        with self._lock:
            running = self._running
            if running is None:
                running = self._running = self._executor.submit(self._call, work)
        # Shielded: a caller that gives up (its client went away) must not cancel the others' answer.
        return await asyncio.shield(asyncio.wrap_future(running))

    def _call(self, work: Callable[[], T]) -> T:
        try:
            return work()
        finally:
            with self._lock:
                self._running = None


def single_flight_of(request: Request, name: str) -> SingleFlight[Any]:
    """The app's SingleFlight called `name` (made on first use)."""
    flight: SingleFlight[Any] = app_object(request, f"single_flight_{name}", lambda: SingleFlight(name))
    return flight
