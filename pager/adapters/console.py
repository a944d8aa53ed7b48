"""Console notifier: the default when no provider is configured; logs each page as one line.

That line is structured (`page method=… to=… alert=… key=… body="<JSON string>"`) and is what log
tooling parses. `readable=True` (what `pager demo` uses) adds the body as people read it, each of its
lines indented by four spaces under the structured line, in the same log record: a line that starts
with whitespace continues the record above it (docs/console.md, "Pages in the demo's output").
"""

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

    def __init__(self, method: Method, kept: int = KEPT, *, readable: bool = False) -> None:
        self.method: Method = method
        self.readable = readable
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
            "page method=%s to=%s alert=%s key=%s body=%s%s",
            page.method,
            page.address,
            page.alert_id if page.alert_id is not None else "-",
            page.idempotency_key,
            json.dumps(page.body),
            indented(readable_text(page)) if self.readable else "",
        )
        return DeliveryResult(DeliveryOutcome.SENT, provider_id=f"console:{page.idempotency_key}")

    def reconcile(self, page: Page, attempted_at: datetime) -> str | None:
        return f"console:{page.idempotency_key}" if page.idempotency_key in self._keys else None


def indented(body: str) -> str:
    """`body` as continuation lines: each of its lines indented four spaces, so none of them can pass
    for a log line of its own."""
    return "".join(f"\n    {line}" for line in body.splitlines())


def readable_text(page: Page) -> str:
    """The page as its person reads it: an email's subject, then the body."""
    return f"Subject: {page.subject}\n\n{page.body}" if page.subject else page.body
