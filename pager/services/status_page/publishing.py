"""The status page's in-process cache: anyone may ask, so asking must cost next to nothing.

Every request is answered from the last rendering (HTML, JSON and Atom bytes with their ETags)
while it is fresh: built less than FRESH_FOR ago by the request clock, under the config object
loaded now. The cache has one entry and no key: nothing a visitor sends (query, headers, path) can
make another rendering. When it is stale, exactly one refresh runs at a time (single flight), on
this cache's own thread, so it takes none of the threads the API's other routes (ingest, acks)
run on, and only one database connection:

- the request that finds it stale waits for the refresh (at most WAIT_LIMIT) and gets the new one;
- requests that arrive while it runs get the previous rendering when it is at most SERVE_STALE_FOR
  old (they never wait), else they wait for the same refresh;
- a refresh that fails (or takes longer than WAIT_LIMIT_S) is logged; the previous rendering is
  answered while it is at most SERVE_STALE_FOR old, else 503 `unavailable` (Retry-After); no new
  attempt is made for FRESH_FOR, so a flood during a database outage makes one attempt per period.

Waiting is done on the event loop (an asyncio future tied to the refresh), never by a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pager.core.status_page import StatusPage
from pager.services.errors import Unavailable
from pager.services.status_page.loading import load_status_page

if TYPE_CHECKING:
    from pager.services.runtime import Runtime

log = logging.getLogger("pager.status_page")

FRESH_FOR = timedelta(seconds=5)
SERVE_STALE_FOR = timedelta(seconds=60)
WAIT_LIMIT_S = 10.0


@dataclass(frozen=True)
class Rendered:
    """One rendering's bytes and their strong ETag."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes) -> Rendered:
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


@dataclass(frozen=True)
class Published:
    """The page as of `built_at`, rendered three ways, under the config object it was built with."""

    page: StatusPage
    html: Rendered
    json: Rendered
    atom: Rendered
    built_at: datetime
    config: object


class StatusPageCache:
    """One rendering of the status page and at most one refresh at a time (thread-safe)."""

    def __init__(
        self,
        fresh_for: timedelta = FRESH_FOR,
        serve_stale_for: timedelta = SERVE_STALE_FOR,
        wait_limit_s: float = WAIT_LIMIT_S,
    ) -> None:
        self.fresh_for = fresh_for
        self.serve_stale_for = serve_stale_for
        self.wait_limit_s = wait_limit_s
        self.refreshes = 0  # how many times the database was read (for tests and metrics)
        self._lock = threading.Lock()
        self._current: Published | None = None
        self._failed_at: datetime | None = None
        self._refreshing: Future[Published] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pager-status-page")

    async def current(self, runtime: Runtime, now: datetime) -> Published:
        """The rendering to answer with at `now` (a refresh first when it is stale). Raises
        Unavailable when there is none to give within WAIT_LIMIT_S, or the last refresh failed."""
        config = runtime.config
        with self._lock:
            current = self._current
            if current is not None and _usable(current, now, self.fresh_for, config):
                return current
            stale = (
                current
                if current is not None and _usable(current, now, self.serve_stale_for, config)
                else None
            )
            if self._failed_at is not None and abs(now - self._failed_at) < self.fresh_for:
                if stale is not None:
                    return stale
                raise Unavailable("the status page cannot be read right now; retry in a few seconds")
            refreshing = self._refreshing
            if refreshing is None:
                refreshing = self._executor.submit(self._refresh, runtime, now)
                self._refreshing = refreshing
            elif stale is not None:
                return stale  # someone else's refresh is running: a few seconds old beats waiting
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(refreshing)), self.wait_limit_s)
        except Exception as exc:
            if stale is not None:
                return stale
            if isinstance(exc, TimeoutError):
                raise Unavailable(
                    "the status page is slow to read right now; retry in a few seconds"
                ) from None
            raise Unavailable("the status page cannot be read right now; retry in a few seconds") from exc

    def _refresh(self, runtime: Runtime, now: datetime) -> Published:
        """Read and render (on this cache's own thread); then this is the current rendering."""
        # Jinja2 and the feed writer load with the first rendering: every Runtime holds this cache,
        # and the worker, which never renders, should not carry them (docs/operations.md, "Memory").
        from pager.services.status_page.rendering import status_atom, status_html, status_json

        try:
            self.refreshes += 1
            config = runtime.config
            page = load_status_page(runtime.engine, config, now)
            published = Published(
                page=page,
                html=Rendered.of(status_html(page)),
                json=Rendered.of(status_json(page)),
                atom=Rendered.of(status_atom(page, runtime.settings.public_url)),
                built_at=now,
                config=config,
            )
        except BaseException:
            log.warning("status_page_refresh_failed", exc_info=True)
            with self._lock:
                self._failed_at = now
                self._refreshing = None
            raise
        with self._lock:
            self._current = published
            self._failed_at = None
            self._refreshing = None
        return published


def _usable(published: Published, now: datetime, age: timedelta, config: object) -> bool:
    """Built under `config` less than `age` from `now` (either way: a clock set back is no help)."""
    return published.config is config and abs(now - published.built_at) < age
