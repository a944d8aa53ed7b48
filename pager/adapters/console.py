"""Console notifier: the default when no provider is configured; logs each page as one line."""

from __future__ import annotations

import json
import logging
from collections import Counter, deque
from datetime import datetime

from pager.adapters.delivery import DeliveryOutcome, DeliveryResult, Method, Page

log = logging.getLogger("pager.page")

KEPT = 10_000  # latest pages kept in memory (tests read them, reconcile asks); all are in the log


class ConsoleNotifier:
    """Writes the page to the log and treats it as delivered."""

    def __init__(self, method: Method, kept: int = KEPT) -> None:
        self.method: Method = method
        # Bounded: the demo server runs for days, and every page would otherwise stay in memory.
        self.sent: deque[Page] = deque(maxlen=kept)
        self._keys: Counter[str] = Counter()  # the keys in `sent`, for reconcile

    def send(self, page: Page) -> DeliveryResult:
        if len(self.sent) == self.sent.maxlen:
            oldest = self.sent[0].idempotency_key
            self._keys[oldest] -= 1
            if self._keys[oldest] <= 0:
                del self._keys[oldest]
        self.sent.append(page)
        self._keys[page.idempotency_key] += 1
        log.info(
            "page method=%s to=%s alert=%s key=%s body=%s",
            page.method,
            page.address,
            page.alert_id if page.alert_id is not None else "-",
            page.idempotency_key,
            json.dumps(page.body),
        )
        return DeliveryResult(DeliveryOutcome.SENT, provider_id=f"console:{page.idempotency_key}")

    def reconcile(self, page: Page, attempted_at: datetime) -> str | None:
        return f"console:{page.idempotency_key}" if page.idempotency_key in self._keys else None
