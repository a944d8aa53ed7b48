"""Prometheus metrics of the engine (served at /metrics): how late escalation steps are decided."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from prometheus_client import Counter, Histogram

from pager.core.alert import AlertState
from pager.core.localtime import require_aware
from pager.db.repositories import DueAlert

ESCALATION_LATENESS = Histogram(
    "pager_escalation_lateness_seconds",
    "From an alert's timer falling due to the commit of its decision (pages queued)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)
ESCALATION_DECISIONS = Counter(
    "pager_escalation_decisions_total", "Timer decisions committed by the escalation engine"
)


def due_at(alert: DueAlert) -> datetime | None:
    """The instant the claimed alert's timer fell due, as its state document says."""
    document = alert.escalation_state
    if not document:
        return None
    written = document.get("next_action_at")  # written by to_document: no need to parse the rest
    if isinstance(written, str):
        return require_aware(datetime.fromisoformat(written))
    return AlertState.from_document(document).next_action_at


class LatenessMeter:
    """The worker's `on_decided` observer: each committed decision's lateness by `clock`."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock

    def __call__(self, decided: Sequence[DueAlert]) -> None:
        committed = self.clock()
        for alert in decided:
            due = due_at(alert)
            if due is not None:
                ESCALATION_LATENESS.observe(max(0.0, (committed - due).total_seconds()))
        ESCALATION_DECISIONS.inc(len(decided))
