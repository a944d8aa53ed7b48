"""The dead-man's switch: while its loops are healthy, a worker pings PAGER_DEADMAN_URL once a minute.

An outside checker (a cron monitor, a healthcheck service) expects the pings and raises its own
alarm when they stop: pager down, hung, cut off from the network or from its database. The pings
come from the worker's periodic job `deadman` (pager.worker_jobs, on a thread of its own, never
from a loop), with a short timeout; a failed ping is logged and the next one is tried on time.
"""

from __future__ import annotations

import logging
import urllib.parse
import urllib.request
from collections.abc import Callable

log = logging.getLogger("pager.deadman")

DEADMAN_EVERY_SECONDS = 60.0
DEADMAN_TIMEOUT_SECONDS = 5.0


class DeadmanSwitch:
    """Pings `url` (HTTP GET) when `healthy()` says so; the worker's job calls it every `every` seconds."""

    def __init__(
        self,
        url: str,
        healthy: Callable[[], bool],
        every: float = DEADMAN_EVERY_SECONDS,
        timeout: float = DEADMAN_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self.healthy = healthy
        self.every = every
        self.timeout = timeout
        # The URL often carries a secret check id: logs name its host only.
        self._host = urllib.parse.urlsplit(url).netloc.rpartition("@")[2]

    def ping_if_healthy(self) -> bool:
        """One ping when healthy; True when the checker answered 2xx/3xx."""
        if not self.healthy():
            log.warning("deadman_skipped host=%s reason=loops_unhealthy", self._host)
            return False
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                response.read(1024)
        except Exception as exc:  # any failure: log it, try again next time
            log.warning("deadman_ping_failed host=%s error=%s", self._host, type(exc).__name__)
            return False
        return True
