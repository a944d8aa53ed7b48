"""`GET|POST /heartbeat/{key}`: a job's beat for its heartbeat monitor (docs/heartbeats.md).

Unauthenticated like the integration routes: the key in the path is the secret. The body, if any, is
never read (it is capped by pager.api.body_limits all the same). An unknown key is a 404 that changes
nothing and counts as a failure of the client (pager.api.failure_limits); a client with too many is
refused with 429 before the database is asked, unless the key is one this process knows: an active
monitor's as the server started, or one it has seen beat since.
A known key beating faster than its throttle gets 429 with Retry-After.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.applications import Starlette

from pager.api.app_state import app_object
from pager.api.deps import NowDep, RuntimeDep
from pager.api.failure_limits import UNKNOWN_HEARTBEAT_KEY, record_failure, refuse_if_blocked
from pager.services.heartbeat_monitors.beats import UnknownMonitorKey, record_beat
from pager.services.ingest.keys import Throttle, Throttled

router = APIRouter(tags=["heartbeat monitors"])

MAX_REMEMBERED_KEYS = 10_000


class BeatAccepted(BaseModel):
    status: Literal["ok"] = "ok"
    service: str = Field(examples=["backups"])
    heartbeat: str = Field(examples=["nightly-backup"])
    next_due_at: datetime = Field(
        examples=["2026-11-24T02:30:00Z"], description="A beat missing by then opens an alert."
    )
    resolved_alert: int | None = Field(
        examples=[None], description="The alert of an earlier miss this beat resolved, if any."
    )


def _example(code: str, message: str) -> dict[str, Any]:
    return {"application/json": {"example": {"error": {"code": code, "message": message, "details": []}}}}


BEAT_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "No heartbeat monitor has this key",
        "content": _example("not_found", "no heartbeat monitor has this key"),
    },
    413: {
        "description": "Body over 64 KB (the body is never read)",
        "content": _example("payload_too_large", "the request body is larger than the 64 KB limit"),
    },
    429: {
        "description": "This key beats too often, or too many unknown keys came from this address; "
        "retry after Retry-After seconds",
        "content": _example("throttled", "too many beats for this heartbeat monitor; retry in 2s"),
    },
    503: {
        "description": "The database cannot be reached or written; retry after Retry-After seconds",
        "content": _example("database_unavailable", "the database is unavailable; retry later"),
    },
}


def remember_monitor_keys(app: Starlette, keys: Iterable[str]) -> None:
    """Start the app knowing `keys`, the active monitors' (as `pager serve` starts): after a restart,
    a sender of unknown keys sharing an address with a good job must not get the job's beats refused
    until each has beaten once (a missed beat pages someone)."""
    app.state.heartbeat_known_keys = set(itertools.islice(keys, MAX_REMEMBERED_KEYS))


def _known_keys(request: Request) -> set[str]:
    return app_object(request, "heartbeat_known_keys", set)


def _throttle(request: Request) -> Throttle:
    return app_object(request, "heartbeat_throttle", Throttle)


# One route per method: a route of two methods gave both the same OpenAPI operationId.
@router.get("/heartbeat/{key}", summary="Beat a heartbeat monitor", responses=BEAT_ERRORS)
@router.post("/heartbeat/{key}", summary="Beat a heartbeat monitor", responses=BEAT_ERRORS)
def beat(key: str, request: Request, runtime: RuntimeDep, now: NowDep) -> BeatAccepted:
    """Record a beat: the monitor's timer starts again, and an alert opened by an earlier missed beat
    is resolved. GET or POST; any body is ignored."""
    known = _known_keys(request)
    if key not in known:
        refuse_if_blocked(request, UNKNOWN_HEARTBEAT_KEY)
    try:
        outcome = record_beat(runtime, key, now, _throttle(request))
    except UnknownMonitorKey:
        known.discard(key)
        record_failure(request, UNKNOWN_HEARTBEAT_KEY)
        raise
    except Throttled as exc:
        retry_after = str(max(1, round(exc.retry_after)))
        message = f"too many beats for this heartbeat monitor; retry in {retry_after}s"
        raise HTTPException(429, message, headers={"Retry-After": retry_after}) from None
    if len(known) >= MAX_REMEMBERED_KEYS:
        known.clear()
    known.add(key)
    return BeatAccepted(
        service=outcome.service_id,
        heartbeat=outcome.name,
        next_due_at=outcome.next_due_at,
        resolved_alert=outcome.resolved_alert_id,
    )
