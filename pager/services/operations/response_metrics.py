"""How fast alerts are acknowledged and resolved, as Prometheus histograms (docs/analytics.md,
"Prometheus"), for a Grafana panel of MTTA and MTTR per service.

The engine's apply step notes each alert that becomes acknowledged or resolved, from the state it
had and the columns its plan writes (no query of its own), and the observations are made only once
the transaction has committed: a rolled-back decision observes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from prometheus_client import Histogram

from pager.core.alert import AlertState

ALERT_ACK_SECONDS = Histogram(
    "pager_alert_ack_seconds",
    "From an alert's trigger to its acknowledgement (each time it becomes acknowledged)",
    ["service"],
    buckets=(10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400),
)
ALERT_RESOLVE_SECONDS = Histogram(
    "pager_alert_resolve_seconds",
    "From an alert's trigger to its resolution",
    ["service"],
    buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800),
)


class ResponseTimes:
    """One transaction's acknowledgements and resolutions, observed when it commits."""

    def __init__(self) -> None:
        self._pending: list[tuple[Histogram, str, float]] = []

    def note(self, service_id: str, before: AlertState | None, columns: Mapping[str, Any]) -> None:
        """Note what writing `columns` over an alert whose state was `before` means, if anything."""
        if before is None:
            return
        status = columns.get("status")
        if status == before.status:
            return
        if status == "acknowledged":
            self._add(ALERT_ACK_SECONDS, service_id, before.triggered_at, columns.get("acknowledged_at"))
        elif status == "resolved":
            self._add(ALERT_RESOLVE_SECONDS, service_id, before.triggered_at, columns.get("resolved_at"))

    def _add(self, histogram: Histogram, service_id: str, since: datetime, at: object) -> None:
        if isinstance(at, datetime):
            self._pending.append((histogram, service_id, max(0.0, (at - since).total_seconds())))

    def observe(self) -> None:
        """The transaction committed: observe what was noted."""
        pending, self._pending = self._pending, []
        for histogram, service_id, seconds in pending:
            histogram.labels(service=service_id).observe(seconds)

    def discard(self) -> None:
        """The transaction (or a savepoint's decision) was rolled back: forget what was noted."""
        self._pending = []
