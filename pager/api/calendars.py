"""Calendar feeds (webcal): a person's shifts and a schedule's shifts, opened by a feed token.

A wrong, revoked or foreign token answers 404 exactly like a feed that does not exist, never 401:
the answer must not tell a guesser which handles or schedules have feeds. The feed's bytes are
stable within an hour (pager.services.calendars.shifts), so its strong ETag repeats and a client sending
If-None-Match gets a 304 without the body. An address whose feed requests failed more than 20
times in a minute gets 429 without a database read (pager.api.failure_limits).

Feeds are served on worker threads of their own (`FeedThreads`): FEED_THREADS at once, up to
FEED_WAITING more waiting on the event loop, the rest answered 503 `feeds_busy` with Retry-After. A
feed URL is handed to calendar apps and pasted into wikis, and each `alarm` value is a feed of its
own to render: 64 connections asking for alarms of 1001 s, 1002 s, ... took all 40 of the server's
shared threads and the interpreter with them, and a trigger sent meanwhile waited up to 4.8 s (its
SMS 5.7 s) where it took 0.03 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from anyio import CapacityLimiter, to_thread
from fastapi import APIRouter, Header, Query, Request, Response
from prometheus_client import Counter

from pager.api.app_state import app_object
from pager.api.client_shares import RefusalLog
from pager.api.deps import NowDep, RuntimeDep
from pager.api.errors import error_response
from pager.api.failure_limits import BAD_FEED_TOKEN, client_of, record_failure, refuse_if_blocked
from pager.api.rest.schemas import ErrorDocument, NamePath
from pager.services.calendars.feed_cache import Feed
from pager.services.calendars.shifts import etag_matches, schedule_feed, user_feed
from pager.services.errors import NotFound

router = APIRouter(prefix="/calendar", tags=["calendars"])

# Feeds carry a token in their URL: no shared cache may keep them; a client may reuse one for 5 minutes.
CACHE_CONTROL = "private, max-age=300"
MEDIA_TYPE = "text/calendar; charset=utf-8"
FEED_THREADS = 2  # feed requests one process serves at once (calendar apps poll hourly)
FEED_WAITING = 32  # more feed requests waiting than this are refused
FEED_RETRY_AFTER_SECONDS = 5
_FEEDS_BUSY = "too many calendar feed requests at once; retry shortly"
FEEDS_REFUSED = Counter(
    "pager_calendar_feeds_refused_total",
    "Calendar feed requests answered 503 feeds_busy: more were running and waiting than allowed",
    ["reason"],
)
# Counted at once, logged as one line with the counts at most every 10 s (a flood is an attack).
_REFUSALS = RefusalLog("calendar_feeds_refused", FEEDS_REFUSED)

_ERROR_EXAMPLE_404 = {
    "error": {
        "code": "not_found",
        "message": "no such calendar feed (unknown, revoked, or a token for another feed)",
        "details": [],
    }
}
_ERROR_EXAMPLE_422 = {
    "error": {
        "code": "invalid_input",
        "message": "alarm: bad duration '15 minutes': expected a whole number and s, m, h or d",
        "details": [],
    }
}
_FEED_EXAMPLE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//pager//On-call calendar//EN\r\n"
    "NAME:On call: Alice Smith (alice)\r\nBEGIN:VEVENT\r\n"
    "SUMMARY:On call (primary): Checkout primary — alice\r\n"
    "DTSTART:20260302T150000Z\r\nDTEND:20260309T140000Z\r\n...\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
_HEADERS_DOC = {
    "ETag": {"description": "Strong validator of the feed's bytes.", "schema": {"type": "string"}},
    "Cache-Control": {"description": CACHE_CONTROL, "schema": {"type": "string"}},
    "Content-Disposition": {
        "description": 'inline; filename="<id>.ics"',
        "schema": {"type": "string"},
    },
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The iCalendar feed (RFC 5545).",
        "content": {"text/calendar": {"schema": {"type": "string"}, "example": _FEED_EXAMPLE}},
        "headers": _HEADERS_DOC,
    },
    304: {"description": "Not modified: If-None-Match named the current ETag."},
    404: {
        "model": ErrorDocument,
        "description": "No such feed, or the token does not open it (unknown, revoked, another feed's).",
        "content": {"application/json": {"example": _ERROR_EXAMPLE_404}},
    },
    422: {
        "model": ErrorDocument,
        "description": "A malformed or missing query parameter (`alarm`, `token`).",
        "content": {"application/json": {"example": _ERROR_EXAMPLE_422}},
    },
    503: {
        "model": ErrorDocument,
        "description": "Too many feed requests at once (`feeds_busy`); retry after `Retry-After` seconds.",
        "content": {
            "application/json": {
                "example": {"error": {"code": "feeds_busy", "message": _FEEDS_BUSY, "details": []}}
            }
        },
    },
    429: {
        "model": ErrorDocument,
        "description": "Too many failed feed requests from this address; retry after `Retry-After` seconds.",
        "content": {
            "application/json": {
                "example": {
                    "error": {
                        "code": "throttled",
                        "message": "too many failed requests from your address; retry in 42 s",
                        "details": [],
                    }
                }
            }
        },
    },
}

TokenQuery = Annotated[
    str,
    Query(
        description="The feed token from `pager calendar-token create` or the API.",
        examples=["pgc_3q2-7wGx0kqfY9m1..."],
    ),
]
AlarmQuery = Annotated[
    str | None,
    Query(
        description="Add a display alarm this long before each shift: 30s, 15m, 2h, 1d (at most 7 days).",
        examples=["15m"],
    ),
]
IfNoneMatch = Annotated[str | None, Header(description="An ETag from an earlier fetch.")]


@router.get(
    "/users/{handle}.ics",
    summary="A person's on-call shifts in every schedule (iCalendar)",
    response_class=Response,
    responses=RESPONSES,
)
async def user_calendar(
    request: Request,
    handle: NamePath,
    token: TokenQuery,
    runtime: RuntimeDep,
    now: NowDep,
    alarm: AlarmQuery = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Every shift `handle` holds, primary or secondary, from 15 days back to a year ahead."""
    return await _served(request, lambda: user_feed(runtime, handle, token, now, alarm), if_none_match)


@router.get(
    "/schedules/{schedule_id}.ics",
    summary="A schedule's primary and secondary shifts (iCalendar)",
    response_class=Response,
    responses=RESPONSES,
)
async def schedule_calendar(
    request: Request,
    schedule_id: NamePath,
    token: TokenQuery,
    runtime: RuntimeDep,
    now: NowDep,
    alarm: AlarmQuery = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    """Both roles of the schedule, from 15 days back to a year ahead."""
    return await _served(
        request, lambda: schedule_feed(runtime, schedule_id, token, now, alarm), if_none_match
    )


class FeedThreads:
    """The feeds' own worker threads: `threads` requests at once, `waiting` more waiting their turn on
    the event loop (no thread), any more refused."""

    def __init__(self, threads: int = FEED_THREADS, waiting: int = FEED_WAITING) -> None:
        self.limiter = CapacityLimiter(threads)
        self.most = threads + waiting
        self.admitted = 0  # running and waiting (counted on the event loop: no lock)

    async def run(self, work: Callable[[], Feed]) -> Feed | None:
        """`work()`'s feed, made on one of the threads; None when too many are waiting already."""
        if self.admitted >= self.most:
            return None
        self.admitted += 1
        try:
            return await to_thread.run_sync(work, limiter=self.limiter)
        finally:
            self.admitted -= 1


def feed_threads_of(request: Request) -> FeedThreads:
    """The app's FeedThreads (made on first use; a test may set its own on `app.state.feed_threads`)."""
    return app_object(request, "feed_threads", FeedThreads)


async def _served(request: Request, make: Callable[[], Feed], if_none_match: str | None) -> Response:
    threads = feed_threads_of(request)
    feed = await threads.run(lambda: _counting_failures(request, make))
    if feed is None:
        state = f"path={request.url.path} waiting={threads.admitted} most={threads.most}"
        _REFUSALS.refused("busy", client_of(request), time.monotonic(), state)
        busy = error_response(503, "feeds_busy", _FEEDS_BUSY)
        busy.headers["Retry-After"] = str(FEED_RETRY_AFTER_SECONDS)
        return busy
    return _respond(feed, if_none_match)


def _counting_failures(request: Request, make: Callable[[], Feed]) -> Feed:
    # A feed that is not found is a failed authentication to the limiter: guessing tokens (or
    # handles) costs the guesser, not the database.
    refuse_if_blocked(request, BAD_FEED_TOKEN)
    try:
        return make()
    except NotFound:
        record_failure(request, BAD_FEED_TOKEN)
        raise


def _respond(feed: Feed, if_none_match: str | None) -> Response:
    headers = {"ETag": feed.etag, "Cache-Control": CACHE_CONTROL}
    if etag_matches(if_none_match, feed.etag):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = f'inline; filename="{feed.filename}"'
    return Response(content=feed.body, media_type=MEDIA_TYPE, headers=headers)
