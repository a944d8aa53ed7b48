"""/api/v1/heartbeat-monitors: the heartbeat monitors services declare, with their secret beat URLs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from pager.api.deps import AdminDep, NowDep, RuntimeDep
from pager.api.rest.pages import PageDep, slice_page
from pager.api.rest.schemas import Paginated, error_responses
from pager.services.heartbeat_monitors.listing import list_monitors
from pager.services.transactions import read_only

router = APIRouter(tags=["heartbeat monitors"])


class HeartbeatMonitorOut(BaseModel):
    service: str = Field(examples=["backups"])
    name: str = Field(examples=["nightly-backup"])
    url: str = Field(
        examples=["https://pager.example.com/heartbeat/3q2-7wEjRa1QvTn4b0xYcGm8sZkLd9Uf"],
        description="The job's beat URL (GET or POST); its last part is a secret.",
    )
    last_beat_at: datetime | None = Field(examples=["2026-11-23T02:00:04Z"])
    state: Literal["healthy", "late", "never"] = Field(
        examples=["healthy"], description="never: no beat yet (raises nothing); late: a beat is missed."
    )


@router.get(
    "/heartbeat-monitors", summary="List heartbeat monitors", responses=error_responses(401, 403, 422)
)
def list_heartbeat_monitors(
    request: Request, response: Response, runtime: RuntimeDep, now: NowDep, page: PageDep, _token: AdminDep
) -> Paginated[HeartbeatMonitorOut]:
    """Every declared heartbeat monitor by service and name, with its beat URL. Needs an admin token."""
    views = read_only(runtime.engine, lambda s: list_monitors(s, runtime.settings.public_url, now))
    items = [
        HeartbeatMonitorOut(
            service=v.service, name=v.name, url=v.url, last_beat_at=v.last_beat_at, state=v.state
        )
        for v in views
    ]
    return slice_page(request, response, page, items)
