"""/api/v1/reports (the response report) and /api/v1/export/{what} (streamed CSV or JSON):
docs/analytics.md."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from pager.api.deps import RuntimeDep, ViewerDep
from pager.api.rest.schedules import query_instant
from pager.api.rest.schemas import error_responses
from pager.core.localtime import NaiveInstantError
from pager.services.analytics.export import EXPORT_KINDS, MEDIA_TYPES, export_text
from pager.services.analytics.report import report_of
from pager.services.errors import InvalidInput
from pager.services.transactions import read_only

router = APIRouter(tags=["analytics"])

FromQuery = Annotated[
    str,
    Query(alias="from", description="Window start, ISO 8601 with offset.", examples=["2026-03-01T00:00:00Z"]),
]
ToQuery = Annotated[
    str,
    Query(
        alias="to",
        description="Window end (not included), ISO 8601 with offset.",
        examples=["2026-04-01T00:00:00Z"],
    ),
]


def _window(start: str, end: str) -> tuple[datetime, datetime]:
    instants = []
    for name, text in (("from", start), ("to", end)):
        try:
            instants.append(query_instant(text))
        except NaiveInstantError as exc:
            raise InvalidInput(f"{name}: {exc}") from None
    return instants[0], instants[1]


@router.get("/reports", summary="The response report of a window", responses=error_responses(401, 404, 422))
def report(
    runtime: RuntimeDep,
    _token: ViewerDep,
    start: FromQuery,
    end: ToQuery,
    service: Annotated[str | None, Query(max_length=100, description="Only this service.")] = None,
) -> dict[str, Any]:
    """Alerts' and incidents' MTTA and MTTR, the ack path per method and each responder's load in
    [from, to) (at most 400 days), drills left out and counted. 404 for an unknown service.
    Needs a viewer token; docs/analytics.md defines every figure."""
    window = _window(start, end)
    return read_only(runtime.engine, lambda session: report_of(session, runtime.config, *window, service))


@router.get(
    "/export/{what}",
    summary="Export alerts, pages, incidents, timeline lines or action items",
    responses={
        **error_responses(401, 422),
        200: {"content": {"text/csv": {}, "application/json": {}}, "description": "The rows, streamed."},
    },
)
def export(
    runtime: RuntimeDep,
    _token: ViewerDep,
    what: Annotated[str, Path(description=f"One of {', '.join(EXPORT_KINDS)}.")],
    start: FromQuery,
    end: ToQuery,
    fmt: Annotated[str, Query(alias="format", description="csv or json (a JSON array).")] = "csv",
    drill: Annotated[bool, Query(description="Include drills.")] = False,
) -> StreamingResponse:
    """The rows of [from, to) as CSV or a JSON array, streamed a chunk at a time; columns in
    docs/analytics.md. Needs a viewer token."""
    window = _window(start, end)
    pieces = export_text(runtime.engine, what, fmt, *window, drill=drill)  # checks before streaming
    filename = f"pager-{what}.{fmt}"
    return StreamingResponse(
        pieces,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
