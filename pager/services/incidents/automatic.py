"""Declaring incidents from alerts and attaching later alerts (docs/incidents.md, "Automatic declare").

A worker job, not part of the trigger path: every pass looks at the alerts triggered since the last
pass (with an overlap, so an alert committed a little after its trigger instant is still seen). An
alert on a service of an open incident joins that incident; an alert matching a `declare` rule of
incidents.yaml (service and alert severity) on a service no open incident covers opens one, at the
rule's severity, declared by `rule:<service>`, and later alerts of that service join it.

With no open incident and no declare rule a pass costs one indexed query. Otherwise candidates are
read without the writer lock first; only when there are some does the pass take the write
transaction, serialize with other workers (an advisory lock on Postgres, `BEGIN IMMEDIATE` on
SQLite), read them again with their rows locked, and link each alert at most once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from pager.core.incident_model import DeclareRule, IncidentRules
from pager.db.incidents import (
    highest_alert_id,
    hold_auto_declare_lock,
    link_alert,
    lock_incident,
    open_incident_services,
    unlinked_alerts_since,
)
from pager.db.session import session_scope
from pager.db.tables import Alert
from pager.services.incidents.declaring import declare
from pager.services.incidents.records import MAX_TITLE, record
from pager.services.runtime import Runtime

log = logging.getLogger("pager.incidents")

AUTO_DECLARE_EVERY = timedelta(seconds=2)
# How far back the first pass of a worker looks, and how much each pass overlaps the one before.
FIRST_LOOKBACK = timedelta(minutes=15)
OVERLAP = timedelta(seconds=30)


@dataclass(frozen=True)
class PassResult:
    declared: int
    attached: int
    highest_alert_id: int | None = None  # read when the pass looked at alerts


@dataclass(frozen=True)
class Cursor:
    """Where a pass starts: alerts triggered at or after `since`, with an id above `after_id`."""

    since: datetime
    after_id: int = 0


class AutoDeclare:
    """The worker's job: remembers how far it has looked; `run(now)` is one pass.

    Besides the instant, it keeps the highest alert id seen by each pass: one OVERLAP old is a
    safe lower bound (every alert with a lower id has committed since), so a pass reads only the
    newest rows of the alerts' primary key, however many alerts the watched services ever had.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.since: datetime | None = None
        self.marks: list[tuple[datetime, int]] = []  # (pass instant, highest alert id then)

    def run(self, now: datetime) -> int:
        since = self.since if self.since is not None else now - FIRST_LOOKBACK
        settled = [alert_id for at, alert_id in self.marks if at <= now - OVERLAP]
        result = declare_and_attach(self.runtime, Cursor(since, max(settled, default=0)), now)
        self.since = max(since, now - OVERLAP)
        if result.highest_alert_id is not None:
            self.marks.append((now, result.highest_alert_id))
        # Keep the newest settled mark (the bound) and every mark still too young to be one.
        newest_settled = max((m for m in self.marks if m[0] <= now - OVERLAP), default=None)
        self.marks = [m for m in self.marks if m[0] > now - OVERLAP or m == newest_settled]
        return result.declared + result.attached


def declare_and_attach(runtime: Runtime, cursor: Cursor, now: datetime) -> PassResult:
    """One pass over the alerts `cursor` points at."""
    rules = runtime.config.incidents
    with session_scope(runtime.engine, read_only=True) as session:
        covered = open_incident_services(session)
        if not covered and not rules.declare:
            return PassResult(0, 0)
        highest = highest_alert_id(session)
        watched = _watched(covered, rules)
        if not unlinked_alerts_since(session, watched, cursor.since, after_id=cursor.after_id):
            return PassResult(0, 0, highest)
    with session_scope(runtime.engine) as session:
        declared, attached = _link_new_alerts(session, rules, cursor, now)
    if declared or attached:
        log.info("incidents_auto declared=%d attached=%d", declared, attached)
    return PassResult(declared, attached, highest)


def _watched(covered: Sequence[tuple[int, str]], rules: IncidentRules) -> list[str]:
    return sorted({service for _, service in covered} | {rule.service for rule in rules.declare})


def _link_new_alerts(
    session: Session, rules: IncidentRules, cursor: Cursor, now: datetime
) -> tuple[int, int]:
    hold_auto_declare_lock(session)
    covered = open_incident_services(session)
    incident_of: dict[str, int] = {}
    for incident_id, service in covered:
        incident_of.setdefault(service, incident_id)  # the oldest open incident of the service
    declared = attached = 0
    watched = _watched(covered, rules)
    for alert in unlinked_alerts_since(session, watched, cursor.since, after_id=cursor.after_id, lock=True):
        assert alert.id is not None
        open_incident = incident_of.get(alert.service_id)
        if open_incident is not None:
            _attach(session, open_incident, alert, now)
            attached += 1
            continue
        rule = _matching_rule(rules.declare, alert)
        if rule is None or alert.status == "resolved":
            continue
        incident = declare(
            session,
            rules,
            title=alert.summary[:MAX_TITLE],
            severity=rule.severity,
            alerts=[alert.id],
            actor=f"rule:{rule.service}",
            now=now,
        )
        assert incident.id is not None
        incident_of[alert.service_id] = incident.id
        declared += 1
    return declared, attached


def _matching_rule(rules: Sequence[DeclareRule], alert: Alert) -> DeclareRule | None:
    for rule in rules:
        if rule.service == alert.service_id and rule.alert_severity == alert.severity:
            return rule
    return None


def _attach(session: Session, incident_id: int, alert: Alert, now: datetime) -> None:
    incident = lock_incident(session, incident_id)
    assert incident is not None and alert.id is not None
    link_alert(session, incident_id, alert.id, now, "system")
    message = f"alert {alert.id} ({alert.service_id}: {alert.summary}) attached: its service is affected"
    record(session, incident, now, "alert_linked", "system", message, {"alert": alert.id})
