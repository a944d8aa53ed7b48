"""/api/v1/reports (the response report) and /api/v1/export/{what} (streamed CSV or JSON):
docs/analytics.md."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from pager.api.deps import RuntimeDep, ViewerDep
from pager.api.rest.schedules import query_instant
from pager.api.rest.schemas import error_responses
from pager.core.localtime import NaiveInstantError
from pager.services.analytics.export import EXPORT_KINDS, MEDIA_TYPES, export_text
from pager.services.analytics.report import report_of
from pager.services.errors import InvalidInput
from pager.services.transactions import read_only

router = APIRouter(tags=["analytics"])

Seconds = float | None


class AckPathOut(BaseModel):
    to_first_page_s: Seconds = Field(examples=[4.2], description="Trigger to the first page handed over.")
    to_delivered_s: Seconds = Field(examples=[11.3], description="Trigger to that page's delivery.")
    to_ack_s: Seconds = Field(examples=[672.0], description="Trigger to the first acknowledgement.")


class AlertFiguresOut(BaseModel):
    count: int = Field(examples=[6])
    mtta_s: Seconds = Field(examples=[672.0])
    mttr_s: Seconds = Field(examples=[2220.0])
    ack_path: AckPathOut
    by_method: dict[str, AckPathOut] = Field(description="sms, voice and email.")


class IncidentCountsOut(BaseModel):
    count: int = Field(examples=[3])
    mtta_s: Seconds = Field(examples=[525.0])
    mttr_s: Seconds = Field(examples=[7200.0])


class IncidentFiguresOut(IncidentCountsOut):
    by_severity: dict[str, IncidentCountsOut] = Field(description="Every severity, SEV0 first.")


class ResponderOut(BaseModel):
    user: str = Field(examples=["berta"])
    pages: int = Field(examples=[8])
    night_pages: int = Field(examples=[3], description="Handed over 22:00-07:00 in their own zone.")
    off_shift_pages: int = Field(examples=[4], description="Handed over while on call nowhere.")
    on_call_hours: float = Field(examples=[36.0])
    night_on_call_hours: float = Field(examples=[27.0])


class ReportOut(BaseModel):
    """The response report; docs/analytics.md defines every figure (means null over nothing)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", examples=["2026-03-28T00:00:00+00:00"])
    to: str = Field(examples=["2026-03-31T00:00:00+00:00"])
    drills_excluded: int = Field(examples=[1])
    alerts: AlertFiguresOut
    incidents: IncidentFiguresOut
    responders: list[ResponderOut]


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


@router.get(
    "/reports",
    summary="The response report of a window",
    response_model=ReportOut,
    responses=error_responses(401, 404, 422),
)
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
