"""Something HTTP clients share (open connections, bytes of bodies held): a total, and at most a
share of it per client, so that no one client takes it all; refusals counted and logged now and then.

Pure bookkeeping for one event loop (no locks): pager.api.connection_limits counts connections with
it, pager.api.body_limits the bytes of request bodies held in memory.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from typing import Literal

from prometheus_client import Counter

log = logging.getLogger("pager.api")

LOG_EVERY_SECONDS = 10.0
Full = Literal["server_full", "client_full"]


class ClientShares:
    """`total` units in all, at most `per_client` (half of `total` unless given) held by one client."""

    def __init__(self, total: int, per_client: int | None = None) -> None:
        if total < 2:
            raise ValueError("total must be >= 2")
        self.total = total
        self.per_client = per_client if per_client is not None else total // 2
        self.held = 0
        self._by_client: Tally[str] = Tally()

    def take(self, client: str, amount: int = 1) -> Full | None:
        """Count `amount` more units as held by `client`, or say why not (and count nothing)."""
        if self.held + amount > self.total:
            return "server_full"
        if self._by_client[client] + amount > self.per_client:
            return "client_full"
        self.held += amount
        self._by_client[client] += amount
        return None

    def give_back(self, client: str, amount: int = 1) -> None:
        """`client` no longer holds `amount` units it took."""
        self.held -= amount
        self._by_client[client] -= amount
        if self._by_client[client] <= 0:
            del self._by_client[client]

    def held_by(self, client: str) -> int:
        """The units `client` holds now."""
        return self._by_client[client]


class RefusalLog:
    """Refusals counted in `counter{reason}` at once, and logged as `event` (one warning line with the
    counts since the last one) at most once every LOG_EVERY_SECONDS: a flood of refusals is what an
    attack looks like, and a line per refusal would flood the log with it."""

    def __init__(self, event: str, counter: Counter) -> None:
        self.event = event
        self.counter = counter
        self._refused: Tally[str] = Tally()
        self._logged_at = float("-inf")

    def refused(self, reason: str, client: str, now: float, state: str) -> None:
        """Count a refusal of `client` for `reason`; `state` (key=value words) ends the log line."""
        self.counter.labels(reason).inc()
        self._refused[reason] += 1
        if now - self._logged_at >= LOG_EVERY_SECONDS:
            self._logged_at = now
            counts = " ".join(f"{name}={n}" for name, n in sorted(self._refused.items()))
            log.warning("%s %s last_client=%s %s", self.event, counts, client, state)
            self._refused.clear()
