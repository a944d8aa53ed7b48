"""Alert ingest: each sender's payload becomes one trigger / acknowledge / resolve on a pager alert.

Senders: the PagerDuty Events API v2 (`/v2/enqueue`), Prometheus Alertmanager webhooks (v4),
Grafana unified alerting webhooks, and a small generic JSON form. Parsing and mapping are pure; only
`receive` touches the database (from worker threads), through the alert use cases, which commit the
alert and its outbox rows before the caller answers. The paging itself happens in the worker.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from anyio import to_thread

from pager.core.alert import AlertSeverity
from pager.services.alerting.alerts import MAX_SUMMARY, TriggerRequest, act_by_dedup_key
from pager.services.alerting.trigger_batch import TriggerBatcher
from pager.services.ingest.keys import (
    UNKNOWN_KEY,
    KnownKeys,
    Throttle,
    Throttled,
    UnknownKey,
    service_for_key,
)
from pager.services.ingest.payloads import (
    MAX_SOURCE,
    Action,
    AlertmanagerWebhook,
    FieldProblem,
    GenericAlert,
    GrafanaWebhook,
    PagerDutyEvent,
    PayloadInvalid,
)
from pager.services.runtime import Runtime

# --- mapping ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestAction:
    """What one payload asks of pager: trigger (with summary etc.) or ack/resolve by dedup key."""

    action: Action
    dedup_key: str | None
    summary: str = ""
    severity: AlertSeverity = "critical"
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
    details |= {name: value for name, value in extras.items() if value is not None}
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
_SEVERITY_WORDS: dict[str, AlertSeverity] = {
    **dict.fromkeys(("critical", "crit", "page", "emergency", "fatal", "disaster", "p1", "sev1"), "critical"),
    **dict.fromkeys(("error", "err", "high", "major", "p2", "sev2"), "error"),
    **dict.fromkeys(("warning", "warn", "medium", "average", "minor", "p3", "sev3"), "warning"),
    **dict.fromkeys(("info", "information", "informational", "low", "none", "ok", "p4", "p5"), "info"),
}
_SEVERITY_RANK: dict[AlertSeverity, int] = {"info": 0, "warning": 1, "error": 2, "critical": 3}
DEFAULT_LABEL_SEVERITY: AlertSeverity = "error"  # Alertmanager's PagerDuty receiver's default too


def severity_from_labels(labels: Sequence[dict[str, str]]) -> AlertSeverity:
    """The worst severity named by the alerts' `severity`/`priority` labels (`error` if none)."""
    found: list[AlertSeverity] = []
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


async def receive(
    runtime: Runtime,
    integration_key: str,
    prepare: Callable[[], IngestAction],
    *,
    now: datetime,
    by: str,
    throttle: Throttle,
    known_keys: KnownKeys,
    triggers: TriggerBatcher,
) -> IngestResult:
    """One ingest request's work: route by key (UnknownKey), throttle (Throttled), build the action
    with `prepare` (it may raise PayloadInvalid), apply it. Nothing is written unless all pass.

    Runs on the event loop; the database is used from worker threads (triggers through `triggers`,
    grouped per transaction). It returns once the action is committed.
    """
    if integration_key not in known_keys and not await _confirm(runtime, known_keys, integration_key):
        raise UnknownKey(UNKNOWN_KEY)
    try:
        retry_after = throttle.take(integration_key)
        if retry_after:
            raise Throttled(retry_after)
        action = prepare()
    except Exception:
        # An unknown key is refused before anything else: make sure the remembered key still exists.
        if not await _confirm(runtime, known_keys, integration_key):
            raise UnknownKey(UNKNOWN_KEY) from None
        raise
    if action.action == "trigger":
        request = TriggerRequest.build(
            integration_key=integration_key,
            summary=action.summary,
            now=now,
            dedup_key=action.dedup_key,
            severity=action.severity,
            source=action.source,
            details=action.details,
        )
        outcome = await triggers.trigger(request)
        result = (
            None if outcome is None else IngestResult(outcome.alert_id, outcome.dedup_key, outcome.outcome)
        )
    else:
        result = await to_thread.run_sync(_acknowledge_or_resolve, runtime, integration_key, action, now, by)
    if result is None:  # the key was rotated away since it was remembered
        known_keys.forget(integration_key)
        raise UnknownKey(UNKNOWN_KEY)
    return result


async def _confirm(runtime: Runtime, known_keys: KnownKeys, integration_key: str) -> bool:
    return await to_thread.run_sync(known_keys.confirm, runtime, integration_key)


def _acknowledge_or_resolve(
    runtime: Runtime, integration_key: str, action: IngestAction, now: datetime, by: str
) -> IngestResult | None:
    """Ack or resolve the open alert with the action's dedup key (None: no service holds the key).

    With no open alert it changes nothing and reports `ignored`, as PagerDuty drops such events.
    """
    assert action.dedup_key is not None
    service_id = service_for_key(runtime, integration_key)
    if service_id is None:
        return None
    verb: Literal["ack", "resolve"] = "ack" if action.action == "acknowledge" else "resolve"
    acted = act_by_dedup_key(runtime, service_id, action.dedup_key, verb, by=by, now=now)
    if acted is None:
        return IngestResult(None, action.dedup_key, "ignored")
    return IngestResult(
        acted.alert_id, acted.dedup_key, _ACT_OUTCOMES.get((action.action, acted.outcome), acted.outcome)
    )
