"""/api/v1/alerts: list (filters, pages), show with the timeline, acknowledge, resolve, escalate, snooze."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from sqlmodel import Session

from pager.api.deps import NowDep, ResponderDep, RuntimeDep, ViewerDep
from pager.api.rest.pages import PageDep, page_of
from pager.api.rest.schemas import (
    NAME_PATTERN,
    AlertActionOut,
    AlertDetailOut,
    AlertOut,
    IdPath,
    Paginated,
    SnoozeIn,
    TimelineOut,
    error_responses,
)
from pager.db.tables import Alert
from pager.services.alerting.alerts import AlertAction, act_on_alert, alert_timeline, get_alert, list_alerts
from pager.services.runtime import Runtime
from pager.services.transactions import read_only

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", summary="List alerts, newest first", responses=error_responses(401, 422))
def list_all(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    page: PageDep,
    _token: ViewerDep,
    status: Annotated[
        Literal["triggered", "acknowledged", "resolved", "suppressed"] | None,
        Query(description="Only alerts in this state."),
    ] = None,
    service: Annotated[
        str | None,
        Query(
            pattern=NAME_PATTERN,
            max_length=100,
            description="Only this service's alerts.",
            examples=["checkout-api"],
        ),
    ] = None,
) -> Paginated[AlertOut]:
    """Alerts newest first, filtered by status and service; paged by limit/offset. Needs a viewer token."""
    rows = read_only(
        runtime.engine,
        lambda session: list_alerts(
            session, status=status, service_id=service, limit=page.limit + 1, offset=page.offset
        ),
    )
    return page_of(request, response, page, [alert_out(row) for row in rows])


@router.get("/{alert_id}", summary="One alert with its timeline", responses=error_responses(401, 404, 422))
def show(alert_id: IdPath, runtime: RuntimeDep, _token: ViewerDep) -> AlertDetailOut:
    """The alert and its timeline, oldest entry first. Needs a viewer token."""

    def read(session: Session) -> AlertDetailOut:
        alert = get_alert(session, alert_id)
        timeline = [
            TimelineOut(at=entry.at, kind=entry.kind, message=entry.message, data=entry.data)
            for entry in alert_timeline(session, alert_id)
        ]
        return AlertDetailOut(**alert_out(alert).model_dump(), timeline=timeline)

    return read_only(runtime.engine, read)


def _act(
    action: AlertAction, alert_id: int, runtime: Runtime, now: datetime, by: str, minutes: int | None = None
) -> AlertActionOut:
    outcome = act_on_alert(runtime, alert_id, action, by=by, now=now, minutes=minutes)
    alert = read_only(runtime.engine, lambda session: get_alert(session, alert_id))
    return AlertActionOut(alert=alert_out(alert), outcome=outcome.outcome)


_ACTION_ERRORS = error_responses(401, 403, 404, 422)


@router.post("/{alert_id}/ack", summary="Acknowledge an alert", responses=_ACTION_ERRORS)
def acknowledge(alert_id: IdPath, runtime: RuntimeDep, now: NowDep, token: ResponderDep) -> AlertActionOut:
    """Stop escalation (until the policy's ack_timeout, if any). A second ack changes nothing.

    Needs a responder token.
    """
    return _act("ack", alert_id, runtime, now, f"api:{token.name}")


@router.post("/{alert_id}/resolve", summary="Resolve an alert", responses=_ACTION_ERRORS)
def resolve(alert_id: IdPath, runtime: RuntimeDep, now: NowDep, token: ResponderDep) -> AlertActionOut:
    """Close the alert for good; a later event with its dedup key opens a new one. Needs a responder token."""
    return _act("resolve", alert_id, runtime, now, f"api:{token.name}")


@router.post("/{alert_id}/escalate", summary="Escalate an alert now", responses=_ACTION_ERRORS)
def escalate(alert_id: IdPath, runtime: RuntimeDep, now: NowDep, token: ResponderDep) -> AlertActionOut:
    """Jump to the next level of the policy now. Needs a responder token."""
    return _act("escalate", alert_id, runtime, now, f"api:{token.name}")


@router.post("/{alert_id}/snooze", summary="Snooze an alert", responses=_ACTION_ERRORS)
def snooze(
    alert_id: IdPath, body: SnoozeIn, runtime: RuntimeDep, now: NowDep, token: ResponderDep
) -> AlertActionOut:
    """Acknowledge now and page again from level 1 after `minutes` (1 to 1440) unless resolved
    meanwhile. Snoozing an acknowledged alert moves the end; a resolved one is `already_resolved`.

    Needs a responder token.
    """
    return _act("snooze", alert_id, runtime, now, f"api:{token.name}", body.minutes)


def alert_out(alert: Alert) -> AlertOut:
    """An alert as the API shows it."""
    return AlertOut(
        id=alert.id or 0,
        service=alert.service_id,
        status=alert.status,
        summary=alert.summary,
        dedup_key=alert.dedup_key,
        severity=alert.severity,
        source=alert.source,
        details=alert.details,
        event_count=alert.event_count,
        level=alert.level,
        loop=alert.loop,
        next_action_at=alert.next_action_at,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        resolved_at=alert.resolved_at,
        resolved_by=alert.resolved_by,
        created_at=alert.created_at,
        updated_at=alert.updated_at,
    )
