"""Console notifier: the default when no provider is configured; logs each page as one line."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from pager.adapters.delivery import DeliveryResult, Method, Outcome, Page

log = logging.getLogger("pager.page")


class ConsoleNotifier:
    """Writes the page to the log and treats it as delivered."""

    def __init__(self, method: Method) -> None:
        self.method: Method = method
        self.sent: list[Page] = []

    def send(self, page: Page) -> DeliveryResult:
        self.sent.append(page)
        log.info(
            "page method=%s to=%s alert=%d key=%s body=%s",
            page.method,
            page.address,
            page.alert_id,
            page.idempotency_key,
            json.dumps(page.body),
        )
        return DeliveryResult(Outcome.SENT, provider_id=f"console:{page.idempotency_key}")

    def reconcile(self, page: Page, attempted_at: datetime) -> str | None:
        return f"console:{page.idempotency_key}" if page in self.sent else None
