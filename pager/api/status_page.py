"""The public status page (docs/status-page.md): /status, /status.json and /status/feed.atom.

No login: anyone may ask, so every answer comes from the in-process cache
(`pager.services.status_page.publishing`). The routes are async and never block: a fresh rendering
is returned at once, and a refresh runs on the cache's own thread, never on the threads the other
routes use. Nothing the visitor sends selects what is shown.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from pager.api.deps import NowDep, RuntimeDep
from pager.api.rest.schemas import ErrorDocument
from pager.services.calendars.shifts import etag_matches
from pager.services.status_page.publishing import Rendered

router = APIRouter(tags=["status page"])

# Shared caches and browsers may keep an answer as long as this process does.
CACHE_CONTROL = "public, max-age=5"
# The page loads nothing but pager's own stylesheets and icon, and runs no script.
HTML_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
IfNoneMatch = Annotated[str | None, Header(description="An ETag from an earlier fetch.")]


def _responses(media_type: str, example: Any) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "The current status (at most a few seconds old).",
            "content": {media_type: {"example": example}},
            "headers": {
                "ETag": {"description": "Strong validator of the body.", "schema": {"type": "string"}},
                "Cache-Control": {"description": CACHE_CONTROL, "schema": {"type": "string"}},
            },
        },
        304: {"description": "Not modified: If-None-Match named the current ETag."},
        503: {
            "model": ErrorDocument,
            "description": "The status cannot be read right now; retry after `Retry-After` seconds.",
            "content": {
                "application/json": {
                    "example": {
                        "error": {
                            "code": "unavailable",
                            "message": "the status page cannot be read right now; retry in a few seconds",
                            "details": [],
                        }
                    }
                }
            },
        },
    }


_JSON_EXAMPLE = {
    "version": 1,
    "generated_at": "2026-03-04T15:20:00+00:00",
    "state": "partial_outage",
    "description": "Partial outage",
    "components": [{"id": "checkout-api", "name": "Checkout API", "state": "partial_outage"}],
    "incidents": [
        {
            "id": 12,
            "headline": "Partial outage: Checkout API",
            "status": "identified",
            "impact": "major",
            "started_at": "2026-03-04T14:58:00+00:00",
            "resolved_at": None,
            "components": [{"id": "checkout-api", "name": "Checkout API"}],
            "updates": [
                {
                    "id": 41,
                    "at": "2026-03-04T15:10:00+00:00",
                    "status": "identified",
                    "text": "Cause found; rolling back.",
                }
            ],
            "more_updates": False,
        }
    ],
    "history": {"since": "2025-12-04T15:20:00+00:00", "days": []},
}


@router.get(
    "/status",
    summary="The public status page (HTML)",
    response_class=Response,
    responses=_responses("text/html", "<!doctype html>..."),
)
async def status_page(runtime: RuntimeDep, now: NowDep, if_none_match: IfNoneMatch = None) -> Response:
    """Every component's state, the open incidents' public updates and 90 days of history."""
    published = await runtime.status_page.current(runtime, now)
    return _answer(published.html, "text/html; charset=utf-8", if_none_match, HTML_HEADERS)


@router.get(
    "/status.json",
    summary="The public status page (JSON)",
    response_class=Response,
    responses=_responses("application/json", _JSON_EXAMPLE),
)
async def status_json(runtime: RuntimeDep, now: NowDep, if_none_match: IfNoneMatch = None) -> Response:
    """Components with their state, open incidents with their public updates, 90 days of history."""
    published = await runtime.status_page.current(runtime, now)
    return _answer(published.json, "application/json", if_none_match)


@router.get(
    "/status/feed.atom",
    summary="The public status updates (Atom feed)",
    response_class=Response,
    responses=_responses("application/atom+xml", "<?xml version='1.0' encoding='UTF-8'?>..."),
)
async def status_feed(runtime: RuntimeDep, now: NowDep, if_none_match: IfNoneMatch = None) -> Response:
    """The newest public updates, newest first (RFC 4287)."""
    published = await runtime.status_page.current(runtime, now)
    return _answer(published.atom, "application/atom+xml; charset=utf-8", if_none_match)


def _answer(
    rendered: Rendered, media_type: str, if_none_match: str | None, extra: dict[str, str] | None = None
) -> Response:
    headers = {"ETag": rendered.etag, "Cache-Control": CACHE_CONTROL, **(extra or {})}
    if etag_matches(if_none_match, rendered.etag):
        return Response(status_code=304, headers=headers)
    return Response(content=rendered.body, media_type=media_type, headers=headers)
