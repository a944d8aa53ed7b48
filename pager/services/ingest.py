"""Alert ingest: each sender's payload becomes one trigger / acknowledge / resolve on a pager alert.

Senders: the PagerDuty Events API v2 (`/v2/enqueue`), Prometheus Alertmanager webhooks (v4),
Grafana unified alerting webhooks, and a small generic JSON form. Parsing and mapping are pure; only
`service_for_key` and `apply` touch the database, through the alert use cases, which commit the
alert and its outbox rows before the caller answers. The paging itself happens in the worker.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlmodel import col

from pager.db.session import SQLITE_BEGIN_OPTION
from pager.db.tables import Service
from pager.services.alerts import MAX_SUMMARY, act_by_dedup_key, trigger_alert
from pager.services.errors import NotFound
from pager.services.ingest_payloads import (
    MAX_SOURCE,
    Action,
    AlertmanagerWebhook,
    FieldProblem,
    GenericAlert,
    GrafanaWebhook,
    PagerDutyEvent,
    PayloadInvalid,
    Severity,
)
from pager.services.runtime import Runtime

# --- mapping ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestAction:
    """What one payload asks of pager: trigger (with summary etc.) or ack/resolve by dedup key."""

    action: Action
    dedup_key: str | None
    summary: str = ""
    severity: Severity = "critical"
    source: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def pagerduty_action(event: PagerDutyEvent) -> IngestAction:
    """The PagerDuty event as an action; PayloadInvalid for the rules a schema cannot state."""
    if event.event_action != "trigger":
        if not (event.dedup_key or "").strip():
            raise PayloadInvalid([FieldProblem("dedup_key", f"is required to {event.event_action}")])
        return IngestAction(event.event_action, event.dedup_key)
    payload = event.payload
    if payload is None:
        raise PayloadInvalid([FieldProblem("payload", "is required for a trigger event")])
    if not payload.summary.strip():
        raise PayloadInvalid([FieldProblem("payload.summary", "must not be blank")])
    details: dict[str, Any] = {"sender": "pagerduty_events_v2"}
    extras = {
        "custom_details": payload.custom_details,
        "timestamp": payload.timestamp,
        "component": payload.component,
        "group": payload.group,
        "class": payload.class_,
        "client": event.client,
        "client_url": event.client_url,
    }
    details.update({name: value for name, value in extras.items() if value is not None})
    if event.links:
        details["links"] = [link.model_dump(exclude_none=True) for link in event.links]
    if event.images:
        details["images"] = [image.model_dump(exclude_none=True) for image in event.images]
    return IngestAction(
        "trigger",
        event.dedup_key or None,
        summary=payload.summary,
        severity=payload.severity,
        source=payload.source[:MAX_SOURCE],
        details=details,
    )


def group_dedup_key(group_key: str) -> str:
    """SHA-256 of the group key: what Alertmanager's own PagerDuty receiver sends as dedup_key."""
    return hashlib.sha256(group_key.encode()).hexdigest()


# Label values seen in the wild for "how bad", mapped onto pager's four severities.
_SEVERITY_WORDS: dict[str, Severity] = {
    **dict.fromkeys(("critical", "crit", "page", "emergency", "fatal", "disaster", "p1", "sev1"), "critical"),
    **dict.fromkeys(("error", "err", "high", "major", "p2", "sev2"), "error"),
    **dict.fromkeys(("warning", "warn", "medium", "average", "minor", "p3", "sev3"), "warning"),
    **dict.fromkeys(("info", "information", "informational", "low", "none", "ok", "p4", "p5"), "info"),
}
_SEVERITY_RANK: dict[Severity, int] = {"info": 0, "warning": 1, "error": 2, "critical": 3}
DEFAULT_LABEL_SEVERITY: Severity = "error"  # Alertmanager's PagerDuty receiver's default too


def severity_from_labels(labels: Sequence[dict[str, str]]) -> Severity:
    """The worst severity named by the alerts' `severity`/`priority` labels (`error` if none)."""
    found: list[Severity] = []
    for alert_labels in labels:
        word = (alert_labels.get("severity") or alert_labels.get("priority") or "").strip().lower()
        if word in _SEVERITY_WORDS:
            found.append(_SEVERITY_WORDS[word])
    return max(found, key=_SEVERITY_RANK.__getitem__) if found else DEFAULT_LABEL_SEVERITY


def _group_summary(doc: AlertmanagerWebhook, firing: int, fallback_title: str | None) -> str:
    annotations = doc.commonAnnotations
    text = annotations.get("summary") or annotations.get("description") or fallback_title or ""
    if not text.strip():
        labels = doc.commonLabels or doc.groupLabels
        name = labels.get("alertname") or doc.alerts[0].labels.get("alertname") or "alert"
        rest = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
        text = f"{name} ({rest})" if rest else name
    prefix = f"[FIRING:{firing}] " if firing > 1 else ""
    return (prefix + " ".join(text.split()))[:MAX_SUMMARY]


def _group_details(doc: AlertmanagerWebhook, sender: str, extra: dict[str, Any]) -> dict[str, Any]:
    details = {
        "sender": sender,
        "receiver": doc.receiver,
        "group_key": doc.groupKey,
        "group_labels": doc.groupLabels,
        "common_labels": doc.commonLabels,
        "common_annotations": doc.commonAnnotations,
        "external_url": doc.externalURL,
        "truncated_alerts": doc.truncatedAlerts,
        "alerts": [alert.model_dump(exclude_none=True) for alert in doc.alerts],
        **extra,
    }
    return {name: value for name, value in details.items() if value is not None}


def alertmanager_action(doc: AlertmanagerWebhook) -> IngestAction:
    """One pager alert per Alertmanager group: firing triggers (repeats dedup), resolved resolves."""
    return _group_action(doc, doc.status, "alertmanager", None, {})


# Grafana's older `state` words, used only when a payload carries no `status`.
_GRAFANA_STATES = {"alerting": "firing", "no_data": "firing", "error": "firing", "ok": "resolved"}


def grafana_action(doc: GrafanaWebhook) -> IngestAction:
    """As Alertmanager, keyed by Grafana's group key; `state` (alerting/ok) only when no `status`."""
    status = doc.status or _GRAFANA_STATES.get((doc.state or "").lower())
    if status is None:
        raise PayloadInvalid([FieldProblem("status", "must be firing or resolved (or state alerting/ok)")])
    return _group_action(doc, status, "grafana", doc.title, {"title": doc.title, "message": doc.message})


def _group_action(
    doc: AlertmanagerWebhook, status: str, sender: str, title: str | None, extra: dict[str, Any]
) -> IngestAction:
    key = group_dedup_key(doc.groupKey)
    details = _group_details(doc, sender, {"status": status, **extra})
    if status == "resolved":
        return IngestAction("resolve", key, details=details)
    firing = [alert for alert in doc.alerts if alert.status == "firing"] or list(doc.alerts)
    labels = doc.commonLabels
    return IngestAction(
        "trigger",
        key,
        summary=_group_summary(doc, len(firing), title),
        severity=severity_from_labels([labels, *(alert.labels for alert in firing)]),
        source=(labels.get("instance") or labels.get("job") or doc.externalURL or sender)[:MAX_SOURCE],
        details=details,
    )


def generic_action(doc: GenericAlert) -> IngestAction:
    """The generic form as an action: firing needs `summary`, resolved needs `dedup_key`."""
    if doc.status == "resolved":
        if doc.dedup_key is None:
            raise PayloadInvalid([FieldProblem("dedup_key", "is required when status is resolved")])
        return IngestAction("resolve", doc.dedup_key)
    if doc.summary is None or not doc.summary.strip():
        raise PayloadInvalid([FieldProblem("summary", "is required when status is firing")])
    return IngestAction(
        "trigger",
        doc.dedup_key,
        summary=doc.summary,
        severity=doc.severity,
        source=doc.source or "generic",
        details={"sender": "generic", **({"details": doc.details} if doc.details is not None else {})},
    )


# --- applying ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestResult:
    """What an action did: the alert (None when an ack/resolve found nothing open) and how."""

    alert_id: int | None
    dedup_key: str
    action: str


_ACT_OUTCOMES = {
    ("acknowledge", "applied"): "acknowledged",
    ("resolve", "applied"): "resolved",
}


class UnknownKey(NotFound):
    """No service has this integration key."""


class Throttled(Exception):
    """The key sent more than its throttle allows; retry after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many events for this integration key; retry in {retry_after:.0f}s")


def service_for_key(runtime: Runtime, integration_key: str) -> str | None:
    """The id of the service an integration key routes to (None for an unknown key)."""
    # A Core read on a DEFERRED transaction: cheaper than an ORM session, and never queued behind
    # the writer on SQLite. Not cached, so a rotated key stops working at once.
    with runtime.engine.connect() as connection:
        reader = connection.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
        query = select(col(Service.id)).where(col(Service.integration_key) == integration_key)
        service_id: str | None = reader.execute(query).scalar_one_or_none()
        return service_id


def receive(
    runtime: Runtime,
    integration_key: str,
    prepare: Callable[[], IngestAction],
    *,
    now: datetime,
    by: str,
    throttle: Throttle,
) -> IngestResult:
    """One ingest request's work: route by key (UnknownKey), throttle (Throttled), build the action
    with `prepare` (it may raise PayloadInvalid), apply it. Nothing is written unless all pass.
    """
    service_id = service_for_key(runtime, integration_key)
    if service_id is None:
        raise UnknownKey("no service has this integration key")
    retry_after = throttle.take(integration_key)
    if retry_after:
        raise Throttled(retry_after)
    return apply(runtime, service_id, prepare(), now=now, by=by)


def apply(runtime: Runtime, service_id: str, action: IngestAction, *, now: datetime, by: str) -> IngestResult:
    """Carry out `action`; it is committed (alert, timeline, outbox rows) when this returns.

    An ack/resolve for a dedup key with no open alert changes nothing and reports `ignored`, as
    PagerDuty drops such events.
    """
    if action.action == "trigger":
        outcome = trigger_alert(
            runtime,
            service_id=service_id,
            summary=action.summary,
            now=now,
            dedup_key=action.dedup_key,
            severity=action.severity,
            source=action.source,
            details=action.details,
        )
        return IngestResult(outcome.alert_id, outcome.dedup_key, outcome.outcome)
    assert action.dedup_key is not None
    verb: Literal["ack", "resolve"] = "ack" if action.action == "acknowledge" else "resolve"
    acted = act_by_dedup_key(runtime, service_id, action.dedup_key, verb, by=by, now=now)
    if acted is None:
        return IngestResult(None, action.dedup_key, "ignored")
    return IngestResult(
        acted.alert_id, acted.dedup_key, _ACT_OUTCOMES.get((action.action, acted.outcome), acted.outcome)
    )


# --- throttling -------------------------------------------------------------------------------------


class Throttle:
    """A token bucket per integration key: `rate_per_minute` sustained, bursts up to `burst`.

    In-process: with several server processes each keeps its own buckets. `clock` returns seconds
    (monotonic by default) so tests can drive time.
    """

    def __init__(
        self,
        rate_per_minute: float = 60.0,
        burst: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_minute <= 0 or burst < 1:
            raise ValueError("rate_per_minute must be > 0 and burst >= 1")
        self.rate = rate_per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend one token for `key`: 0.0 when allowed, else the seconds until a token is back."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
