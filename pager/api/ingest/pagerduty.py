"""`POST /v2/enqueue`: PagerDuty Events API v2, answered with PagerDuty's own bodies (its clients parse
them), not pager's error shape."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from pager.api.deps import request_now, runtime_of
from pager.api.direct_route import DirectRoute
from pager.api.errors import DATABASE_RETRY_AFTER_SECONDS, database_unavailable
from pager.api.failure_limits import UNKNOWN_INTEGRATION_KEY, TooManyFailures, record_failure
from pager.api.ingest.common import (
    known_keys_of,
    refuse_unknown_key_flood,
    request_body,
    throttle_of,
    timed_receive,
    triggers_of,
)
from pager.services.errors import DomainError
from pager.services.ingest import events as ingest
from pager.services.ingest import payloads as ingest_payloads
from pager.services.ingest.keys import Throttled, UnknownKey
from pager.services.ingest.payloads import MalformedBody, PayloadInvalid

# DirectRoute: FastAPI documents these routes but calls them as they are (pager.api.direct_route).
router = APIRouter(tags=["ingest"], route_class=DirectRoute)


class EnqueueAccepted(BaseModel):
    """PagerDuty's 202 body."""

    status: Literal["success"] = "success"
    message: str = "Event processed"
    dedup_key: str


class EnqueueRejected(BaseModel):
    """PagerDuty's error body (400 invalid event, 429 throttled, 503 database unavailable)."""

    status: str
    message: str
    errors: list[str]


UNAVAILABLE_BODY = {
    "status": "unavailable",
    "message": "the database is unavailable; retry later",
    "errors": ["the database is unavailable"],
}


def _unavailable(reason: str) -> JSONResponse:
    body = EnqueueRejected(status="unavailable", message=f"{reason}; retry later", errors=[reason])
    headers = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
    return JSONResponse(status_code=503, content=body.model_dump(), headers=headers)


def _invalid_event(*errors: str) -> JSONResponse:
    body = EnqueueRejected(status="invalid event", message="Event object is invalid", errors=list(errors))
    return JSONResponse(status_code=400, content=body.model_dump())


THROTTLED_BODY = {
    "status": "throttle event",
    "message": "Requests for this routing key are arriving too quickly. Please retry later.",
    "errors": ["Too many events for this routing key."],
}


BLOCKED_BODY = {
    "status": "throttle event",
    "message": "Too many events with unknown routing keys from this address. Please retry later.",
    "errors": ["Too many unknown routing keys from this address."],
}


def _throttled(retry_after: float, body: dict[str, Any] = THROTTLED_BODY) -> JSONResponse:
    rejected = EnqueueRejected.model_validate(body)
    headers = {"Retry-After": str(max(1, round(retry_after)))}
    return JSONResponse(status_code=429, content=rejected.model_dump(), headers=headers)


PD_TRIGGER_EXAMPLE = {
    "routing_key": "0123456789abcdef0123456789abcdef",
    "event_action": "trigger",
    "dedup_key": "disk-full/db-1",
    "payload": {"summary": "Disk 97% full on db-1", "source": "db-1.example.com", "severity": "critical"},
}


@router.post(
    "/v2/enqueue",
    summary="Send an event (PagerDuty Events API v2 compatible)",
    description=(
        "Trigger, acknowledge or resolve an alert of the service whose integration key is `routing_key`. "
        "Same fields, limits and answers as PagerDuty's Events API v2: 202 once the event is stored, "
        "400 `invalid event` naming each bad field (also for an unknown routing key and for a body over "
        "512 KB), 429 when the key sends more than 60 events a minute beyond a burst of 120, or when "
        "this address sent more than 20 unknown routing keys within a minute (a key already known to "
        "work is still accepted), 503 with Retry-After while the database cannot be reached or written "
        "(retry; the dedup key keeps a retry from opening a second alert). "
        "An acknowledge or resolve for a dedup key with no open alert is accepted and changes nothing. "
        "Errors use PagerDuty's body shape, not pager's."
    ),
    status_code=202,
    response_model=EnqueueAccepted,
    responses={
        400: {
            "model": EnqueueRejected,
            "description": "Invalid event",
            "content": {
                "application/json": {
                    "example": {
                        "status": "invalid event",
                        "message": "Event object is invalid",
                        "errors": [
                            "payload.severity: Input should be 'critical', 'error', 'warning' or 'info'"
                        ],
                    }
                }
            },
        },
        429: {
            "model": EnqueueRejected,
            "description": "Too many events for this routing key; retry later",
            "content": {"application/json": {"example": THROTTLED_BODY}},
        },
        503: {
            "model": EnqueueRejected,
            "description": "The database cannot be reached or written; retry after Retry-After seconds",
            "content": {"application/json": {"example": UNAVAILABLE_BODY}},
        },
    },
    openapi_extra=request_body(ingest_payloads.PagerDutyEvent, PD_TRIGGER_EXAMPLE),
)
async def enqueue(request: Request) -> Response:
    # No dependencies declared, on purpose: see pager.api.deps.request_now.
    runtime, now = runtime_of(request), await request_now(request)
    body = await request.body()  # capped before it is read (pager.api.body_limits)
    try:
        event = ingest_payloads.parse_payload(ingest_payloads.PagerDutyEvent, body)
        action = ingest.pagerduty_action(event)
    except MalformedBody as exc:
        return _invalid_event(f"body: {exc}")
    except PayloadInvalid as exc:
        return _invalid_event(*(f"{p.field}: {p.message}" for p in exc.problems))
    try:
        refuse_unknown_key_flood(request, event.routing_key)
    except TooManyFailures as exc:
        return _throttled(exc.retry_after, BLOCKED_BODY)
    try:
        result = await timed_receive(
            runtime,
            event.routing_key,
            lambda: action,
            now=now,
            by="pagerduty_events_v2",
            throttle=throttle_of(request),
            known_keys=known_keys_of(request),
            triggers=triggers_of(request, runtime),
        )
    except UnknownKey:
        record_failure(request, UNKNOWN_INTEGRATION_KEY)
        return _invalid_event("routing_key: Invalid routing key")
    except Throttled as exc:
        return _throttled(exc.retry_after)
    except DomainError as exc:  # e.g. the service vanished meanwhile: still PagerDuty's shape
        return _invalid_event(str(exc))
    except DBAPIError as exc:
        reason = database_unavailable(request, exc)
        if reason is None:
            raise
        return _unavailable(reason)
    accepted = EnqueueAccepted(dedup_key=result.dedup_key)
    return Response(accepted.model_dump_json(), status_code=202, media_type="application/json")
