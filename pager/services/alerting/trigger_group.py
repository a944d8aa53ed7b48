"""What the triggers of one transaction share (`pager.services.alerting.alerts.write_triggers`).

The services they name and the facts earlier triggers' decisions read, read once for all; for a
group (group commit), also one AlertTransaction and each alert the group has touched, as it stands
after the group's last decision on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from pager.core.paging_plan import ServiceFacts
from pager.db import trigger_queries
from pager.services.alerting.decision_facts import FactsCache
from pager.services.alerting.paging import AlertTransaction
from pager.services.runtime import Runtime


@dataclass
class SharedByTriggers:
    """What the triggers of one transaction share, read once for all: the services they name (by id or
    integration key), and the facts earlier triggers' decisions read (services, people, on call).

    `opened` keeps each alert the triggers have touched as it stands after the last decision on it,
    its repeats counted by `write_counts` (for a trigger alone, right after its decision). With
    `defer_writes` (a group) they also share one AlertTransaction, whose buffered writes (alert
    columns, timeline lines, pages) go in one statement each for the whole group when it commits: a
    later trigger of the same alert (a storm repeats its keys) is decided from `opened`, and its count
    added with the others when the group ends, instead of its row being written, read back and
    counted once per trigger.
    """

    services: dict[tuple[str | None, str | None], ServiceFacts | None] = field(default_factory=dict)
    facts: FactsCache = field(default_factory=FactsCache)
    defer_writes: bool = False
    work: AlertTransaction | None = None
    opened: dict[tuple[str, str], AlertInGroup] = field(default_factory=dict)
    # A group's alerts read (and new ones inserted) before its first decision, by (service id, dedup
    # key): the open alert, or the id of the row inserted for the group's first trigger of that key.
    found: dict[tuple[str, str], trigger_queries.OpenAlert | int] | None = None

    def open_alert(
        self, session: Session, service_id: str, key: str
    ) -> trigger_queries.OpenAlert | int | None:
        """For the first trigger of `key` in this transaction: its open alert (locked), the id of the
        row already inserted for it, or None (no open alert: the caller inserts one)."""
        if self.found is not None:
            return self.found.pop((service_id, key))
        return trigger_queries.lock_open_alert(session, service_id, key)

    def transaction(self, session: Session, runtime: Runtime, now: datetime) -> AlertTransaction:
        """The AlertTransaction for a trigger at `now`: the group's one, or a new one."""
        if not self.defer_writes:
            return AlertTransaction(session, runtime, now, self.facts)
        if self.work is None:
            self.work = AlertTransaction(session, runtime, now, self.facts)
        return self.work.at(now)

    def write_counts(self, session: Session) -> None:
        """Add the repeats each alert of the group took up (its `event_count`, latest details)."""
        for alert in self.opened.values():
            if alert.repeats:
                trigger_queries.count_repeated_trigger(
                    session, alert.id, alert.last_event_at, alert.new_details, times=alert.repeats
                )


@dataclass
class AlertInGroup:
    """An open alert as a transaction's triggers have left it so far (its row is locked by it); a
    trigger alone is a group of one."""

    id: int
    summary: str
    details: dict[str, Any]
    state: dict[str, Any]
    last_event_at: datetime
    repeats: int = 0  # repeated triggers not yet counted in the row
    new_details: dict[str, Any] | None = None  # details to store with them, when one carried any

    def repeat(self, now: datetime, details: dict[str, Any] | None) -> None:
        """One more trigger of this alert at `now`, as `count_repeated_trigger` counts it."""
        self.repeats += 1
        self.last_event_at = now
        if details:
            self.details = self.new_details = {**self.details, "last_event": details}
