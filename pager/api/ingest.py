"""Alert ingest over HTTP: `/v2/enqueue` (PagerDuty Events API v2) and `/integrations/{kind}/{key}`.

Every accepted request has committed its alert change and outbox rows before it is answered 202; the
worker (woken at once) does the paging after the response. Bodies are capped at 512 KB before they
are read (pager.api.body_limits), and read here as a stream that checks the cap again. `/v2/enqueue`
answers with PagerDuty's own bodies (clients of that API parse them); the integrations answer with
pager's one error shape.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from pager.api.deps import NowDep, RuntimeDep
from pager.api.errors import DATABASE_RETRY_AFTER_SECONDS, database_unavailable
from pager.api.failure_limits import (
    UNKNOWN_INTEGRATION_KEY,
    TooManyFailures,
    record_failure,
    refuse_if_blocked,
)
from pager.services.alerting.trigger_batch import TriggerBatcher
from pager.services.errors import DomainError
from pager.services.ingest import events as ingest
from pager.services.ingest import payloads as ingest_payloads
from pager.services.ingest.events import IngestAction
from pager.services.ingest.keys import KnownKeys, Throttle, Throttled, UnknownKey
from pager.services.ingest.payloads import MalformedBody, PayloadInvalid
from pager.services.operations.metrics import INGEST_SECONDS, timed
from pager.services.runtime import Runtime

router = APIRouter(tags=["ingest"])
T = TypeVar("T")
timed_receive = timed(INGEST_SECONDS, ingest.receive)  # every webhook and event, into pager_ingest_seconds


def triggers_of(request: Request, runtime: Runtime) -> TriggerBatcher:
    """The app's trigger writer (created on first use), which groups triggers per commit on SQLite."""
    state = request.app.state
    triggers: TriggerBatcher | None = getattr(state, "ingest_triggers", None)
    if triggers is None or triggers.runtime is not runtime:
        triggers = state.ingest_triggers = TriggerBatcher(runtime)
    return triggers


def _app_singleton(request: Request, name: str, make: Callable[[], T]) -> T:
    """`request.app.state.<name>`, made by `make` on first use (tests and benches may set their own)."""
    value: T | None = getattr(request.app.state, name, None)
    if value is None:
        value = make()
        setattr(request.app.state, name, value)
    return value


def known_keys_of(request: Request) -> KnownKeys:
    """The app's remembered integration keys."""
    return _app_singleton(request, "ingest_known_keys", KnownKeys)


def throttle_of(request: Request) -> Throttle:
    """The app's per-key throttle."""
    return _app_singleton(request, "ingest_throttle", Throttle)


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """`model`'s JSON schema with its $defs inlined, to sit in an OpenAPI requestBody."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(copy.deepcopy(defs[ref.removeprefix("#/$defs/")]))
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _request_body(model: type[BaseModel], example: dict[str, Any]) -> dict[str, Any]:
    content = {"application/json": {"schema": _inline_schema(model), "example": example}}
    return {"requestBody": {"required": True, "content": content}}


# --- /v2/enqueue ------------------------------------------------------------------------------------


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


def refuse_unknown_key_flood(request: Request, integration_key: str) -> None:
    """TooManyFailures when the client sent too many unknown keys lately and this key is not one this
    process knows (a known key is never refused for them: one bad sender must not block the good
    integrations sharing its address). Asks neither the body nor the database."""
    if integration_key not in known_keys_of(request):
        refuse_if_blocked(request, UNKNOWN_INTEGRATION_KEY)


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
    openapi_extra=_request_body(ingest_payloads.PagerDutyEvent, PD_TRIGGER_EXAMPLE),
)
async def enqueue(request: Request, runtime: RuntimeDep, now: NowDep) -> JSONResponse:
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
    return JSONResponse(status_code=202, content=accepted.model_dump())


# --- /integrations/{kind}/{key} --------------------------------------------------------------------


class IngestedAlert(BaseModel):
    """One alert a request touched; `id` is null when an ack/resolve found no open alert."""

    id: int | None
    dedup_key: str
    action: str


class IngestAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    alerts: list[IngestedAlert]


def _error_example(code: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    return {
        "application/json": {
            "example": {"error": {"code": code, "message": message, "details": details or []}}
        }
    }


INTEGRATION_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "The body is not JSON",
        "content": _error_example("bad_request", "the body is not valid JSON"),
    },
    404: {
        "description": "Unknown integration key (or kind)",
        "content": _error_example("not_found", "no service has this integration key"),
    },
    413: {
        "description": "Body over 512 KB",
        "content": _error_example("payload_too_large", "the request body is larger than the 512 KB limit"),
    },
    422: {
        "description": "The body breaks the payload's schema; each field is named",
        "content": _error_example(
            "invalid_input",
            "invalid body.status",
            [{"field": "body.status", "message": "Input should be 'firing' or 'resolved'"}],
        ),
    },
    429: {
        "description": "Too many events for this key, or too many unknown keys from this address; "
        "retry after Retry-After seconds",
        "content": _error_example("throttled", "too many events for this integration key; retry in 2s"),
    },
    503: {
        "description": "The database cannot be reached or written; retry after Retry-After seconds",
        "content": _error_example("database_unavailable", "the database is unavailable; retry later"),
    },
}


async def _integration(
    request: Request,
    runtime: Runtime,
    now: Any,
    key: str,
    model: type[BaseModel],
    mapping: Callable[[Any], IngestAction],
    sender: str,
) -> IngestAccepted:
    refuse_unknown_key_flood(request, key)
    body = await request.body()  # capped before it is read (pager.api.body_limits)
    try:
        result = await timed_receive(
            runtime,
            key,
            lambda: mapping(ingest_payloads.parse_payload(model, body)),
            now=now,
            by=sender,
            throttle=throttle_of(request),
            known_keys=known_keys_of(request),
            triggers=triggers_of(request, runtime),
        )
    except UnknownKey:
        record_failure(request, UNKNOWN_INTEGRATION_KEY)
        raise
    except Throttled as exc:
        retry_after = str(max(1, round(exc.retry_after)))
        raise HTTPException(429, str(exc), headers={"Retry-After": retry_after}) from None
    except PayloadInvalid as exc:
        raise RequestValidationError(
            [{"loc": _body_location(p.field), "msg": p.message, "type": "value_error"} for p in exc.problems]
        ) from None
    return IngestAccepted(
        alerts=[IngestedAlert(id=result.alert_id, dedup_key=result.dedup_key, action=result.action)]
    )


def _body_location(field: str) -> tuple[str, ...]:
    return ("body",) if field == "body" else ("body", *field.split("."))


def _integration_route(
    kind: str,
    model: type[BaseModel],
    mapping: Callable[[Any], IngestAction],
    title: str,
    example: dict[str, Any],
) -> None:
    async def receive(request: Request, key: str, runtime: RuntimeDep, now: NowDep) -> IngestAccepted:
        return await _integration(request, runtime, now, key, model, mapping, kind)

    receive.__name__ = f"ingest_{kind}"
    router.add_api_route(
        f"/integrations/{kind}/{{key}}",
        receive,
        methods=["POST"],
        summary=f"Receive a {title} notification",
        description=(
            f"`key` is the service's integration key. {title} payloads map to one pager alert per "
            "group (firing triggers or counts a repeat into the open alert, resolved resolves it). "
            "Answered 202 once stored; paging happens after the response. An address that sent more "
            "than 20 unknown keys within a minute gets 429 for keys not already known to work."
        ),
        status_code=202,
        response_model=IngestAccepted,
        responses=INTEGRATION_ERRORS,
        openapi_extra=_request_body(model, example),
    )


_integration_route(
    "alertmanager",
    ingest_payloads.AlertmanagerWebhook,
    ingest.alertmanager_action,
    "Prometheus Alertmanager webhook (v4)",
    {
        "version": "4",
        "status": "firing",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "receiver": "pager",
        "alerts": [{"status": "firing", "labels": {"alertname": "HighErrorRate", "severity": "critical"}}],
        "commonAnnotations": {"summary": "5xx ratio above 5%"},
    },
)
_integration_route(
    "grafana",
    ingest_payloads.GrafanaWebhook,
    ingest.grafana_action,
    "Grafana alerting webhook",
    {
        "status": "firing",
        "state": "alerting",
        "groupKey": '{}:{alertname="HighCPU"}',
        "title": "[FIRING:1] HighCPU",
        "alerts": [{"status": "firing", "labels": {"alertname": "HighCPU", "severity": "warning"}}],
    },
)
_integration_route(
    "generic",
    ingest_payloads.GenericAlert,
    ingest.generic_action,
    "generic JSON alert",
    {"status": "firing", "summary": "Backup job failed", "dedup_key": "backup/nightly", "severity": "error"},
)
