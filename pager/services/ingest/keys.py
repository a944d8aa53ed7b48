"""Per integration key: which keys route to a service (and which this process remembers), and the throttle."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable

from pager.db.catalog import service_id_for_key
from pager.db.session import read_connection
from pager.services.errors import NotFound
from pager.services.runtime import Runtime


class UnknownKey(NotFound):
    """No service has this integration key."""


UNKNOWN_KEY = "no service has this integration key"


class Throttled(Exception):
    """The key sent more than its throttle allows; retry after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many events for this integration key; retry in {retry_after:.0f}s")


def service_for_key(runtime: Runtime, integration_key: str) -> str | None:
    """The id of the service an integration key routes to (None for an unknown key)."""
    with read_connection(runtime.engine) as reader:
        return service_id_for_key(reader, integration_key)


class KnownKeys:
    """Integration keys this process has seen held by a service: a hint that spares a look-up.

    A key is remembered only after the database confirmed it, and the hint never decides alone: a
    trigger looks the key up again in its own write transaction, and before a refusal (429, a bad
    payload) is given for a remembered key, the database is asked again. So a key rotated away, in
    this process or another, stops working at once, and every answer is the one a fresh look-up
    would give. Unknown keys are never remembered.
    """

    MAX_KEYS = 10_000

    def __init__(self, held: Iterable[str] = ()) -> None:
        """`held`: keys the database has just shown held by services (as `pager serve` starts), so
        a key is known before its first event: one sender flooding unknown keys from a shared address
        must not get a good key's first alert after a restart refused (the unknown-key block)."""
        self._keys: set[str] = set(itertools.islice(held, self.MAX_KEYS))

    def __contains__(self, integration_key: object) -> bool:
        return integration_key in self._keys

    def confirm(self, runtime: Runtime, integration_key: str) -> bool:
        """Ask the database whether a service holds the key, and remember (or forget) the answer."""
        if service_for_key(runtime, integration_key) is None:
            self.forget(integration_key)
            return False
        if len(self._keys) >= self.MAX_KEYS:
            self._keys.clear()
        self._keys.add(integration_key)
        return True

    def forget(self, integration_key: str) -> None:
        self._keys.discard(integration_key)


# --- throttling -------------------------------------------------------------------------------------


class Throttle:
    """A token bucket per integration key: `rate_per_minute` sustained, bursts up to `burst`.

    In-process: with several server processes each keeps its own buckets. `clock` returns seconds
    (monotonic by default) so tests can drive time.
    """

    def __init__(
        self,
        rate_per_minute: float = 60.0,
        burst: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("rate_per_minute must be > 0 and burst >= 1")
        self.rate = rate_per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend one token for `key`: 0.0 when allowed, else the seconds until a token is back."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
