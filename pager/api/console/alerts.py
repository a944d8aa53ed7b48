"""/alerts (filters, a table fragment htmx refreshes every few seconds) and /alerts/{id} with its
timeline and the ack / resolve / escalate / snooze buttons: the API's `act_on_alert`, nothing else."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import Response
from sqlmodel import Session

from pager.api.console.web import CsrfDep, LoggedInDep, Page, require
from pager.api.deps import MAX_ID
from pager.db.tables import ALERT_STATUSES, Alert
from pager.services.alerting.alerts import AlertAction, act_on_alert, alert_with_timeline, list_alerts
from pager.services.alerting.catalog import list_services
from pager.services.transactions import read_only

router = APIRouter(include_in_schema=False)

REFRESH_SECONDS = 5
SHOWN = 100
StatusFilter = Annotated[Literal["", "triggered", "acknowledged", "resolved", "suppressed"], Query()]
ServiceFilter = Annotated[str, Query(max_length=100)]
AlertId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _alerts(page: Page, status: str, service: str) -> list[Alert]:
    return read_only(
        page.runtime.engine,
        lambda session: list_alerts(session, status=status or None, service_id=service or None, limit=SHOWN),
    )


@router.get("/alerts")
def alerts_page(page: LoggedInDep, status: StatusFilter = "", service: ServiceFilter = "") -> Response:
    """The newest alerts, filtered by status and service; the table refreshes itself."""
    services = read_only(page.runtime.engine, lambda session: [s.id for s in list_services(session)])
    return page.render(
        "alerts.html",
        alerts=_alerts(page, status, service),
        status=status,
        service=service,
        statuses=ALERT_STATUSES,
        services=services,
        refresh=REFRESH_SECONDS,
    )


@router.get("/alerts/rows")
def alert_rows(page: LoggedInDep, status: StatusFilter = "", service: ServiceFilter = "") -> Response:
    """Just the table body of /alerts (what htmx polls)."""
    return page.render("alert_rows.html", alerts=_alerts(page, status, service))


@router.get("/alerts/{alert_id}")
def alert_page(page: LoggedInDep, alert_id: AlertId) -> Response:
    """One alert, its timeline (oldest first) and, for responders, what they can do about it."""

    def read(session: Session) -> tuple[Alert, list[object]]:
        alert, timeline = alert_with_timeline(session, alert_id)
        return alert, list(timeline)

    alert, timeline = read_only(page.runtime.engine, read)
    return page.render("alert.html", alert=alert, timeline=timeline)


def _act(page: Page, alert_id: int, action: AlertAction, minutes: int | None = None) -> Response:
    visitor = require(page, "responder")
    act_on_alert(page.runtime, alert_id, action, by=visitor.actor, now=page.now, minutes=minutes)
    return page.redirect(f"/alerts/{alert_id}")


@router.post("/alerts/{alert_id}/ack")
def acknowledge(page: CsrfDep, alert_id: AlertId) -> Response:
    return _act(page, alert_id, "ack")


@router.post("/alerts/{alert_id}/resolve")
def resolve(page: CsrfDep, alert_id: AlertId) -> Response:
    return _act(page, alert_id, "resolve")


@router.post("/alerts/{alert_id}/escalate")
def escalate(page: CsrfDep, alert_id: AlertId) -> Response:
    return _act(page, alert_id, "escalate")


@router.post("/alerts/{alert_id}/snooze")
def snooze(page: CsrfDep, alert_id: AlertId, minutes: Annotated[int, Form(ge=1, le=1440)] = 30) -> Response:
    return _act(page, alert_id, "snooze", minutes)
