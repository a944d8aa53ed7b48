"""Alert commands: trigger, ack, resolve, escalate, snooze, list, show (the timeline)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import typer

from pager.commands.common import (
    database_session,
    fail,
    now_utc,
    print_json,
    reported_errors,
    runtime,
)
from pager.commands.schedules import render_table
from pager.core.localtime import format_instant
from pager.db.tables import ALERT_STATUSES, SEVERITIES, Alert, TimelineEntry
from pager.services.alerting.alerts import act_on_alert, alert_with_timeline, list_alerts, trigger_alert
from pager.services.alerting.catalog import sync_declared_services

alert_app = typer.Typer(
    no_args_is_help=True, help="Alerts: trigger, acknowledge, resolve, escalate, snooze, inspect."
)

Action = Literal["ack", "resolve", "escalate"]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
AlertId = Annotated[int, typer.Argument(metavar="ID", help="The alert's number.")]
ByOption = Annotated[str, typer.Option("--by", help="Who is acting (a handle); shown on the timeline.")]

_DONE = {"ack": "acknowledged", "resolve": "resolved", "escalate": "escalated"}
_NOT_DONE = {
    "already_acknowledged": "was already acknowledged; nothing changed",
    "already_resolved": "is already resolved; nothing changed",
    "ignored": "needed nothing; nothing changed",
}


def register(app: typer.Typer) -> None:
    """Add the alert commands to `app`."""
    for action in ("ack", "resolve", "escalate"):
        alert_app.command(action)(_action_command(action))
    app.add_typer(alert_app, name="alert")


@alert_app.command("trigger")
def trigger(
    ctx: typer.Context,
    service_id: Annotated[str, typer.Argument(metavar="SERVICE", help="Service id (see `service list`).")],
    summary: Annotated[str, typer.Option("--summary", help="What is wrong, in one line.")],
    dedup_key: Annotated[
        str | None,
        typer.Option(
            "--dedup-key", help="Repeats with this key merge into the open alert (default: new key)."
        ),
    ] = None,
    severity: Annotated[
        str, typer.Option("--severity", help="critical, error, warning or info.")
    ] = "critical",
    as_json: JsonOption = False,
) -> None:
    """Open an alert on SERVICE (or merge into the open one with the same dedup key) and page."""
    if severity not in SEVERITIES:
        fail(f"--severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    pager = runtime(ctx)
    now = now_utc()
    try:
        with reported_errors():
            sync_declared_services(pager.engine, pager.config, now)
            outcome = trigger_alert(
                pager,
                service_id=service_id,
                summary=summary,
                now=now,
                dedup_key=dedup_key,
                severity=severity,
                source="cli",
            )
    finally:
        pager.engine.dispose()
    if as_json:
        print_json(
            {
                "id": outcome.alert_id,
                "dedup_key": outcome.dedup_key,
                "created": outcome.created,
                "outcome": outcome.outcome,
            }
        )
    elif outcome.created:
        print(f"alert {outcome.alert_id} triggered on {service_id} (dedup key {outcome.dedup_key})")
    else:
        print(
            f"merged into open alert {outcome.alert_id} (dedup key {outcome.dedup_key}); nobody paged again"
        )


def _action_command(action: Action) -> Callable[..., None]:
    verb = {"ack": "Acknowledge", "resolve": "Resolve", "escalate": "Escalate"}[action]

    def act(ctx: typer.Context, alert_id: AlertId, by: ByOption = "cli") -> None:
        pager = runtime(ctx)
        try:
            with reported_errors():
                outcome = act_on_alert(pager, alert_id, action, by=by, now=now_utc())
        finally:
            pager.engine.dispose()
        if outcome.outcome == "policy_missing":
            fail(f"alert {alert_id}: its service's escalation policy is not loaded; nothing changed")
        if outcome.outcome == "applied":
            print(f"alert {alert_id} {_DONE[action]}")
        else:
            print(f"alert {alert_id} {_NOT_DONE.get(outcome.outcome, outcome.outcome)}")

    act.__doc__ = {
        "ack": f"{verb} alert ID: escalation stops and pending pages are cancelled.",
        "resolve": f"{verb} alert ID (final): pending pages are cancelled.",
        "escalate": f"{verb} alert ID now: the next level is paged at once.",
    }[action]
    return act


@alert_app.command("snooze")
def snooze(
    ctx: typer.Context,
    alert_id: AlertId,
    minutes: Annotated[int, typer.Option("--minutes", help="How long, 1 to 1440 minutes.")],
    by: ByOption = "cli",
) -> None:
    """Snooze alert ID: acknowledged now, paged again from level 1 after MINUTES unless resolved."""
    pager = runtime(ctx)
    try:
        with reported_errors():
            outcome = act_on_alert(pager, alert_id, "snooze", by=by, now=now_utc(), minutes=minutes)
    finally:
        pager.engine.dispose()
    if outcome.outcome == "policy_missing":
        fail(f"alert {alert_id}: its service's escalation policy is not loaded; nothing changed")
    if outcome.outcome == "applied":
        print(f"alert {alert_id} snoozed for {minutes} min; it pages again from level 1 then unless resolved")
    else:
        print(f"alert {alert_id} {_NOT_DONE.get(outcome.outcome, outcome.outcome)}")


@alert_app.command("list")
def list_command(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only triggered, acknowledged, resolved or suppressed alerts."),
    ] = None,
    service_id: Annotated[str | None, typer.Option("--service", help="Only this service's alerts.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="At most this many.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Alerts, newest first."""
    if status is not None and status not in ALERT_STATUSES:
        fail(f"--status must be one of {', '.join(ALERT_STATUSES)}, not {status!r}")
    with database_session(ctx, read_only=True) as session:
        alerts = list_alerts(session, status=status, service_id=service_id, limit=limit)
    if as_json:
        print_json([alert_document(alert) for alert in alerts])
        return
    if not alerts:
        print("no alerts")
        return
    rows = [
        [str(a.id), a.status, a.service_id, format_instant(a.created_at), _progress(a), a.summary]
        for a in alerts
    ]
    print(render_table(["ID", "STATUS", "SERVICE", "CREATED (UTC)", "AT", "SUMMARY"], rows))


@alert_app.command("show")
def show(ctx: typer.Context, alert_id: AlertId, as_json: JsonOption = False) -> None:
    """One alert and its timeline: every trigger, page, delivery attempt, ack and escalation."""
    with database_session(ctx, read_only=True) as session:
        alert, timeline = alert_with_timeline(session, alert_id)
    if as_json:
        print_json(
            {
                **alert_document(alert),
                "severity": alert.severity,
                "level": alert.level,
                "loop": alert.loop,
                "acknowledged_by": alert.acknowledged_by,
                "resolved_by": alert.resolved_by,
                "timeline": [timeline_document(entry) for entry in timeline],
            }
        )
        return
    print(f"alert {alert.id} [{alert.status}] {alert.service_id}: {alert.summary}")
    details = [
        ["dedup key", alert.dedup_key],
        ["severity", alert.severity],
        ["created", format_instant(alert.created_at)],
        ["events", str(alert.event_count)],
        ["escalation", _progress(alert)],
    ]
    if alert.acknowledged_at is not None:
        details.append(["acknowledged", _by(alert.acknowledged_at, alert.acknowledged_by)])
    if alert.resolved_at is not None:
        details.append(["resolved", _by(alert.resolved_at, alert.resolved_by)])
    if alert.next_action_at is not None and alert.status != "resolved":
        details.append(["next action", format_instant(alert.next_action_at)])
    print(render_table(None, details, indent=2))
    print("timeline:")
    for line in timeline_lines(timeline):
        print(f"  {line}")


def alert_document(alert: Alert) -> dict[str, Any]:
    """The JSON shape of one alert in `pager alert list --json` (docs/cli.md, "Alerts")."""
    return {
        "id": alert.id,
        "service": alert.service_id,
        "status": alert.status,
        "summary": alert.summary,
        "dedup_key": alert.dedup_key,
        "created_at": format_instant(alert.created_at),
    }


def timeline_document(entry: TimelineEntry) -> dict[str, Any]:
    """One timeline entry as JSON."""
    return {"at": format_instant(entry.at), "kind": entry.kind, "message": entry.message, "data": entry.data}


def timeline_lines(timeline: list[TimelineEntry]) -> list[str]:
    """`AT  message` per entry, oldest first."""
    return [f"{format_instant(entry.at)}  {entry.message}" for entry in timeline]


def _progress(alert: Alert) -> str:
    return "-" if alert.status == "resolved" else f"level {alert.level} loop {alert.loop}"


def _by(at: Any, who: str | None) -> str:
    return f"{format_instant(at)} by {who}" if who else format_instant(at)
