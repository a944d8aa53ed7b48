"""Prometheus metrics of the engine (served at /metrics).

Recorded as things happen: how late escalation steps are decided, how long ingest and each worker
loop pass take. Read from the database at scrape time (BacklogCollector): alerts by state, pages by
method and status, the outbox's depth and oldest due page, the newest worker heartbeat, readiness.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import Engine

from pager.core.alert import AlertState
from pager.core.localtime import require_aware
from pager.core.readiness import Figures, assess
from pager.db import backlog
from pager.db.alerts import DueAlert
from pager.db.session import session_scope
from pager.services.operations.readiness import figures_of

log = logging.getLogger("pager.metrics")
P = ParamSpec("P")
R = TypeVar("R")

ESCALATION_LATENESS = Histogram(
    "pager_escalation_lateness_seconds",
    "From an alert's timer falling due to the commit of its decision (pages queued)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)
ESCALATION_DECISIONS = Counter(
    "pager_escalation_decisions_total", "Timer decisions committed by the escalation engine"
)
INGEST_SECONDS = Histogram(
    "pager_ingest_seconds",
    "Processing of one ingested webhook or event, from its parsed body to its stored alert change",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WORKER_LOOP_SECONDS = Histogram(
    "pager_worker_loop_seconds",
    "One pass of a worker loop (escalation or delivery), sleeping excluded",
    ["loop"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def timed(histogram: Histogram, call: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """`call` (a coroutine function), each call's duration, raised or not, observed in `histogram`."""

    async def observed(*args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        try:
            return await call(*args, **kwargs)
        finally:
            histogram.observe(time.perf_counter() - started)

    return observed


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


READY_HELP = "1 when /readyz would answer 200, else 0"


class BacklogCollector:
    """Gauges read from the database at each scrape, in one short read-only transaction.

    A database that does not answer skips these samples (logged), except `pager_ready`, which is
    then 0: /metrics itself keeps answering.
    """

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterable[Metric]:
        now = self.clock()
        try:
            with session_scope(self.engine, read_only=True) as session:
                figures = figures_of(session)
                alerts = backlog.open_alerts_by_status(session)
                pages = backlog.pages_by_method_and_status(session)
        except Exception as exc:  # a scrape must never fail because the database does
            log.warning("metrics_database_failed error=%s", type(exc).__name__)
            yield _gauge("pager_ready", READY_HELP, 0.0)
            return
        yield _gauge("pager_ready", READY_HELP, float(assess(figures, now).ready))
        by_state = GaugeMetricFamily("pager_alerts", "Open alerts by state", labels=["state"])
        for state, count in sorted(alerts.items()):
            by_state.add_metric([state], count)
        yield by_state
        by_outcome = GaugeMetricFamily(
            "pager_pages", "Pages (outbox rows) by method and status", labels=["method", "status"]
        )
        for (method, status), count in sorted(pages.items()):
            by_outcome.add_metric([method, status], count)
        yield by_outcome
        depth = sum(n for (_m, status), n in pages.items() if status in backlog.WAITING_PAGE_STATUSES)
        yield _gauge("pager_outbox_depth", "Pages pending or unknown (still needing the worker)", depth)
        yield _gauge(
            "pager_outbox_oldest_due_age_seconds",
            "How long the oldest due pending/unknown page has been due (0: none due)",
            _overdue(figures.oldest_due_page, now),
        )
        yield _gauge(
            "pager_escalation_oldest_due_age_seconds",
            "How long the oldest due escalation timer of an open alert has been due (0: none due)",
            _overdue(figures.oldest_due_timer, now),
        )
        yield from _heartbeat_age(figures, now)


def _heartbeat_age(figures: Figures, now: datetime) -> Iterable[Metric]:
    if figures.newest_beat is not None:
        yield _gauge(
            "pager_worker_heartbeat_age_seconds",
            "Since the newest worker heartbeat (a worker's slower loop completed a pass); absent: no worker",
            max(0.0, (now - figures.newest_beat).total_seconds()),
        )


def _overdue(due: datetime | None, now: datetime) -> float:
    return 0.0 if due is None else max(0.0, (now - due).total_seconds())


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class _ProcessMetrics:
    """Everything in prometheus_client's process-wide registry (histograms, counters, process stats)."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def metrics_registry(engine: Engine) -> CollectorRegistry:
    """What /metrics serves for a process on `engine`: its own metrics and the database's gauges."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessMetrics())
    registry.register(BacklogCollector(engine))
    return registry
