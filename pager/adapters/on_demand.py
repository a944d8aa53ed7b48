"""A notifier built on its first use, so a process that never pages never imports its SDK.

`pager serve --no-worker` has the same settings as the worker but sends nothing: with the Twilio
notifiers built up front it carried the twilio SDK and requests (~11 MB per process) for nothing.
A worker pages, so it builds them when it starts (`warm_notifiers`): importing the SDK takes half a
second or more, and the first page after a start must not wait for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime

from pager.adapters.delivery import DeliveryResult, Method, Notifier, Page


class OnDemandNotifier:
    """Builds the real notifier with `build` on the first send or reconcile (once, under a lock: the
    delivery pump calls from many threads), then hands every call to it."""

    def __init__(self, method: Method, build: Callable[[], Notifier]) -> None:
        self.method = method
        self._build = build
        self._built: Notifier | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        return self._built is not None

    def warm(self) -> None:
        """Build it now (a worker, at start: the first page must not wait for the SDK's import)."""
        self._notifier()

    def _notifier(self) -> Notifier:
        built = self._built
        if built is None:
            with self._lock:
                if self._built is None:
                    self._built = self._build()
                built = self._built
        return built

    def send(self, page: Page) -> DeliveryResult:
        return self._notifier().send(page)

    def reconcile(self, page: Page, attempted_at: datetime) -> str | None:
        return self._notifier().reconcile(page, attempted_at)


def warm_notifiers(notifiers: Mapping[Method, Notifier]) -> None:
    """Build every notifier of `notifiers` that is built on first use (see the module's docstring)."""
    for notifier in notifiers.values():
        if isinstance(notifier, OnDemandNotifier):
            notifier.warm()
