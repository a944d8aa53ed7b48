"""Group commit for ingest triggers: one transaction and one commit for many requests.

Concurrent triggers queue in the event loop: while one group is being written (in a worker thread),
triggers that arrive wait, and are written together — one transaction, one commit, one thread hop,
the facts read once, the writes one statement per table — as soon as it is done. Every request is
answered only once the group holding it is committed, and a failure in a group is retried trigger by
trigger, so one request's bad input never costs another its rows
(`pager.services.alerting.alerts.write_triggers`). SQLite has one writer at a time, so its triggers
queue anyway; on Postgres a trigger alone took ~16 round trips, a group's later ones take two
statements each (docs/delivery.md, "Group commit").
"""

from __future__ import annotations

import asyncio

from anyio import to_thread

from pager.services.alerting.alerts import (
    AlertOutcome,
    TriggerRequest,
    TriggerResult,
    write_triggers,
)
from pager.services.runtime import Runtime

MAX_GROUP = 50  # triggers per transaction: bounds how long a group holds SQLite's writer lock, or row locks


class TriggerBatcher:
    """Writes the triggers of one process's event loop, grouped per transaction.

    Use it from the event loop only (its queue is not locked: the loop runs one task at a time).
    """

    def __init__(self, runtime: Runtime, max_group: int = MAX_GROUP) -> None:
        if max_group < 1:
            raise ValueError("max_group must be >= 1")
        self.runtime = runtime
        self.max_group = max_group
        self._waiting: list[tuple[TriggerRequest, asyncio.Future[AlertOutcome | None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def trigger(self, request: TriggerRequest) -> AlertOutcome | None:
        """Write `request`; its outcome once committed (None when there is no such service)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AlertOutcome | None] = loop.create_future()
        self._waiting.append((request, future))
        if self._writer is None:
            self._writer = loop.create_task(self._write_waiting())
        return await future

    async def _write_waiting(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting[: self.max_group], self._waiting[self.max_group :]
                requests = [request for request, _ in group]
                try:
                    results = await to_thread.run_sync(write_triggers, self.runtime, requests)
                except BaseException as exc:  # no result at all: every request of the group failed
                    for _, future in group:
                        _settle(future, exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, future), result in zip(group, results, strict=True):
                    _settle(future, result)
        finally:
            self._writer = None


def _settle(future: asyncio.Future[AlertOutcome | None], result: TriggerResult | BaseException) -> None:
    if future.done():  # its request was cancelled (the client went away); the trigger stands
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
