"""One transaction's alert decisions: load the facts, decide with the pure core, write the result.

GoAlert's shape (docs/architecture.md, "The engine"), in three pieces that do not know each other:
`decision_facts.load_facts` reads what a batch needs into plain values, `pager.core.paging_plan.
plan_alert` decides each alert from them, `alert_writes.AlertWriter` writes the plans inside the
caller's transaction, so either all of it happens or none. `AlertTransaction` only runs the three in
order for the callers (a trigger, an action, an escalation batch, a delivery outcome, a phone reply).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from pager.core.alert import Decision, Event
from pager.core.paging_plan import AlertFacts, AlertPlan, plan_alert
from pager.db.alerts import DueAlert
from pager.db.tables import Alert
from pager.services.alerting.alert_writes import AlertWriter
from pager.services.alerting.decision_facts import FactsCache, load_facts
from pager.services.runtime import Runtime

log = logging.getLogger("pager.engine")

AlertRow = Alert | DueAlert  # an alert locked by this transaction: an ORM object or plain claimed values


class AlertTransaction:
    """Decides and applies events for alerts inside one open session.

    Alerts come as ORM objects (one-off actions: the object is updated) or as claimed `DueAlert`
    values (batches: their new columns are buffered). With a `FactsCache` (a pass or a group of
    triggers sharing what was read) or `bulk=True`, timeline lines are buffered too. What is buffered
    is written before the transaction commits, or by `write_buffered`.
    """

    def __init__(
        self,
        session: Session,
        runtime: Runtime,
        now: datetime,
        cache: FactsCache | None = None,
        *,
        bulk: bool = False,
    ) -> None:
        self.session, self.runtime, self.now = session, runtime, now
        self.cache = cache if cache is not None else FactsCache()
        self.writer = AlertWriter(session, runtime, now, bulk=bulk or cache is not None)

    def at(self, now: datetime) -> AlertTransaction:
        """Decide at `now` from here on (a group of triggers, each at its own instant); what is
        buffered keeps the instants it was decided at."""
        self.now = self.writer.now = now
        return self

    def handle(self, alert: AlertRow, event: Event) -> Decision | None:
        """Decide `event` for `alert` and apply it; None when the alert's policy is not loaded."""
        return self.handle_many([(alert, event)])[0]

    def handle_many(self, items: Sequence[tuple[AlertRow, Event]]) -> list[Decision | None]:
        """Decide and apply each (alert, event), loading what all of them read first, in one go."""
        return [plan.decision for plan in self._decide(items)]

    def handle_for_state(self, alert: AlertRow, event: Event) -> dict[str, Any] | None:
        """`handle`, for a caller that keeps only the alert's new state: its `escalation_state`
        document, the one written (not made a second time); None when its policy is not loaded."""
        (plan,) = self._decide([(alert, event)])
        document: dict[str, Any] | None = plan.columns.get("escalation_state")
        return document

    def apply_all(self, items: Sequence[tuple[AlertRow, Event]]) -> None:
        """`handle_many` for a caller that reads no decision (an escalation batch).

        Keeping a batch's decisions alive until its end doubled the objects the garbage collector
        counted per alert, and with them its collections (bench: 387 young ones per 10,000 alerts).
        """
        for _ in self._decide(items):
            pass

    def _decide(self, items: Sequence[tuple[AlertRow, Event]]) -> Iterator[AlertPlan]:
        alerts = [(_facts_of(row), event) for row, event in items]
        facts = load_facts(self.session, self.runtime, self.now, alerts, self.cache)
        # Each alert's facts are let go once it is decided, for the same reason as in `apply_all`.
        pending = deque(zip(items, alerts, strict=True))
        del alerts
        while pending:
            (row, _), (alert, event) = pending.popleft()
            plan = plan_alert(alert, event, self.now, facts)
            service = facts.services.get(alert.service_id)
            self.writer.apply(plan, alert, service, row if isinstance(row, Alert) else None)
            _log(plan, service.policy_id if service is not None else "?")
            yield plan

    def timeline(
        self, alert_id: int | None, kind: str, message: str, data: dict[str, Any] | None = None
    ) -> None:
        """One timeline line at `now`, written with the rest of the transaction.

        A notice (`alert_id` None) belongs to no alert and has no timeline: the line is logged instead.
        """
        if alert_id is None:
            log.info("notice_%s message=%r", kind.removeprefix("page_"), message)
            return
        self.writer.timeline(alert_id, kind, message, data)

    def retry_later(self, alert: AlertRow, delay: timedelta) -> None:
        """Move the alert's timer `delay` on, leaving everything else as it is."""
        assert alert.id is not None
        self.writer.retry_later(alert.id, alert if isinstance(alert, Alert) else None, delay)

    def write_buffered(self) -> None:
        """Write what is buffered now (alert columns, timeline lines, outbox rows)."""
        self.writer.flush()

    def discard_buffered(self) -> None:
        """Forget what is buffered: its decision was rolled back (a failed savepoint)."""
        self.writer.discard()


def _facts_of(row: AlertRow) -> AlertFacts:
    assert row.id is not None
    return AlertFacts.of(row.id, row.service_id, row.summary, row.escalation_state or {})


def _log(plan: AlertPlan, policy_id: str) -> None:
    decision = plan.decision
    if decision is None:
        log.error("policy_missing alert=%d policy=%s", plan.alert_id, policy_id)
        return
    for user, reason in plan.unreachable:
        log.error("cannot_page alert=%d user=%s reason=%s", plan.alert_id, user, reason)
    if not log.isEnabledFor(logging.INFO):  # its arguments cost more than the check
        return
    state = decision.state
    log.info(
        "alert_decided alert=%d status=%s level=%d loop=%d next_action_at=%s outcome=%s",
        plan.alert_id,
        state.status,
        state.level,
        state.loop,
        state.next_action_at.isoformat() if state.next_action_at else "-",
        decision.outcome,
    )
