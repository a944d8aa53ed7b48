"""`POST /integrations/{kind}/{key}`: Alertmanager, Grafana and generic JSON webhooks, one route per
kind, answered with pager's one error shape."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from pager.api.deps import request_now, runtime_of
from pager.api.direct_route import DirectRoute
from pager.api.failure_limits import UNKNOWN_INTEGRATION_KEY, record_failure
from pager.api.ingest.common import (
    known_keys_of,
    refuse_unknown_key_flood,
    request_body,
    throttle_of,
    timed_receive,
    triggers_of,
)
from pager.services.ingest import events as ingest
from pager.services.ingest import payloads as ingest_payloads
from pager.services.ingest.events import IngestAction
from pager.services.ingest.keys import Throttled, UnknownKey
from pager.services.ingest.payloads import PayloadInvalid
from pager.services.runtime import Runtime

# DirectRoute: FastAPI documents these routes but calls them as they are (pager.api.direct_route).
router = APIRouter(tags=["ingest"], route_class=DirectRoute)


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
    now: datetime,
    key: str,
    model: type[BaseModel],
    mapping: Callable[[Any], IngestAction],
    sender: str,
) -> Response:
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
    accepted = IngestAccepted(
        alerts=[IngestedAlert(id=result.alert_id, dedup_key=result.dedup_key, action=result.action)]
    )
    # Rendered here, as /v2/enqueue's: the route's response_model only documents it.
    return Response(accepted.model_dump_json(), status_code=202, media_type="application/json")


def _body_location(field: str) -> tuple[str, ...]:
    return ("body",) if field == "body" else ("body", *field.split("."))


def _integration_route(
    kind: str,
    model: type[BaseModel],
    mapping: Callable[[Any], IngestAction],
    title: str,
    example: dict[str, Any],
) -> None:
    # No dependencies declared, on purpose: see pager.api.deps.request_now.
    async def receive(request: Request, key: str) -> Response:
        runtime, now = runtime_of(request), await request_now(request)
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
        openapi_extra=request_body(model, example),
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
