"""/healthz (the process answers), /readyz (pager can page: see pager.core.readiness), /metrics.

Served by `pager serve` and by `pager worker --metrics-port`. /readyz and /metrics read the database
and need no token: each runs its reads one at a time on a thread of its own, shared by the requests
that arrive meanwhile (pager.api.single_flight), so a flood of them cannot take the threads and
database connections a trigger needs.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from pager.api.deps import NowDep, RuntimeDep
from pager.api.errors import error_response
from pager.api.single_flight import single_flight_of
from pager.core.readiness import Readiness
from pager.services.operations.readiness import check_readiness

router = APIRouter(tags=["health"])

NOT_READY_EXAMPLE = {
    "error": {
        "code": "not_ready",
        "message": "not ready: worker",
        "details": [
            {"check": "worker", "ok": False, "message": "no worker completed a loop in the last 15.0 s"}
        ],
    }
}


# On the event loop, not a worker thread: the process answers as long as its loop does, even while
# every thread waits on a slow database (a liveness probe that failed then would have the process
# restarted, and the triggers it was holding dropped, for a database problem).
@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the database answers, a worker is alive, nothing due is overdue",
    description=(
        "200 when the database answers, some worker completed a pass of its loops in the last 15 s, "
        "and neither a due page nor a due escalation timer waits more than 30 s. Otherwise 503 whose "
        "`details` lists each failed check."
    ),
    responses={
        200: {
            "description": "Ready",
            "content": {"application/json": {"example": {"status": "ready", "checks": []}}},
        },
        503: {"description": "Not ready", "content": {"application/json": {"example": NOT_READY_EXAMPLE}}},
    },
)
async def readyz(request: Request, runtime: RuntimeDep, now: NowDep) -> Response:
    flight = single_flight_of(request, "readiness")
    readiness: Readiness = await flight.result(lambda: check_readiness(runtime.engine, now))
    if not readiness.ready:
        failed = [check.as_dict() for check in readiness.failed]
        names = ", ".join(check.name for check in readiness.failed)
        return error_response(503, "not_ready", f"not ready: {names}", failed)
    body: dict[str, Any] = {"status": "ready", "checks": [check.as_dict() for check in readiness.checks]}
    return JSONResponse(body)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = getattr(request.app.state, "metrics_registry", None) or REGISTRY
    body: bytes = await single_flight_of(request, "metrics").result(lambda: generate_latest(registry))
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
