"""/api/v1/webhooks: outgoing webhook subscriptions (docs/integrations.md). Admin only.

The signing secret is in the creation response only; listing never shows it.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from pager.api.deps import AdminDep, NowDep, RuntimeDep
from pager.api.rest.pages import PageDep, slice_page
from pager.api.rest.schemas import IdPath, Paginated, error_responses
from pager.db.webhook_tables import WebhookSubscription
from pager.services.integrations.webhooks import add_webhook, list_webhooks, remove_webhook, resume_webhook
from pager.services.transactions import read_only, read_write

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
_WRITE_ERRORS = error_responses(401, 403, 404, 422)


class WebhookIn(BaseModel):
    url: str = Field(max_length=2000, examples=["https://hooks.example.com/pager"])
    events: list[str] = Field(max_length=20, examples=[["incident.declared", "incident.resolved"]])
    format: str = Field(default="standard", max_length=16, examples=["standard"])


class WebhookOut(BaseModel):
    id: int = Field(examples=[1])
    url: str
    events: list[str]
    format: str = Field(examples=["standard"], description="standard, slack or mattermost.")
    state: str = Field(examples=["active"], description="active or paused.")
    paused_reason: str | None = Field(examples=[None])
    paused_at: datetime | None = None
    consecutive_failures: int = Field(examples=[0])
    created_at: datetime


class WebhookCreatedOut(BaseModel):
    id: int
    url: str
    events: list[str]
    format: str
    secret: str = Field(description="The signing secret (whsec_…): shown here once, never again.")


@router.get("", summary="List webhook subscriptions", responses=error_responses(401, 403))
def list_all(
    request: Request, response: Response, runtime: RuntimeDep, page: PageDep, _token: AdminDep
) -> Paginated[WebhookOut]:
    """Every subscription, paused ones with why (never the secret). Needs an admin token."""
    rows = read_only(runtime.engine, lambda s: list(list_webhooks(s)))
    return slice_page(request, response, page, [webhook_out(row) for row in rows])


@router.post("", status_code=201, summary="Add a webhook subscription", responses=_WRITE_ERRORS)
def create(body: WebhookIn, runtime: RuntimeDep, now: NowDep, _token: AdminDep) -> WebhookCreatedOut:
    """Subscribe a URL to events; the response is the only place the signing secret is shown."""
    row = read_write(runtime.engine, lambda s: add_webhook(s, body.url, body.events, body.format, now))
    assert row.id is not None
    return WebhookCreatedOut(id=row.id, url=row.url, events=row.events, format=row.format, secret=row.secret)


@router.delete(
    "/{webhook_id}", status_code=204, summary="Remove a webhook subscription", responses=_WRITE_ERRORS
)
def remove(webhook_id: IdPath, runtime: RuntimeDep, _token: AdminDep) -> Response:
    """Delete the subscription and its undelivered events."""
    read_write(runtime.engine, lambda s: remove_webhook(s, webhook_id))
    return Response(status_code=204)


@router.post("/{webhook_id}/resume", summary="Resume a paused subscription", responses=_WRITE_ERRORS)
def resume(webhook_id: IdPath, runtime: RuntimeDep, _token: AdminDep) -> WebhookOut:
    """Active again: its kept deliveries are sent, in order."""
    return webhook_out(read_write(runtime.engine, lambda s: resume_webhook(s, webhook_id)))


def webhook_out(row: WebhookSubscription) -> WebhookOut:
    assert row.id is not None
    return WebhookOut(
        id=row.id,
        url=row.url,
        events=list(row.events),
        format=row.format,
        state=row.state,
        paused_reason=row.paused_reason,
        paused_at=row.paused_at,
        consecutive_failures=row.consecutive_failures,
        created_at=row.created_at,
    )
