"""Request bodies capped before they are read: a pure ASGI middleware, caps by path prefix.

A body whose Content-Length is over its route's cap is refused at once, before the app runs. A body
without a length (chunked) is counted as the app reads it: the read that passes the cap answers the
refusal and raises `BodyTooLarge` into the app, so nothing past the cap is ever held. The app's
own answer to that exception is dropped; the client gets the cap's refusal. What the client still
sends after that is read and discarded by the server (uvicorn), never buffered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pager.api.errors import error_body
from pager.services.ingest.payloads import MAX_BODY_BYTES as INGEST_MAX_BODY_BYTES

log = logging.getLogger("pager.api")

# INGEST_MAX_BODY_BYTES: 512 KB, PagerDuty's limit for an event (alert webhooks are far smaller).
TWILIO_MAX_BODY_BYTES = 64 * 1024  # Twilio's webhook forms are under a kilobyte
HEARTBEAT_MAX_BODY_BYTES = 64 * 1024  # a beat's body is never read; a job may post its log tail
DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # the REST API's largest documents are a few kilobytes


def size_text(size: int) -> str:
    """`size` bytes in words: `512 KB`, `1 MB`, `1000 bytes`."""
    if size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MB"
    if size % 1024 == 0:
        return f"{size // 1024} KB"
    return f"{size} bytes"


def too_large_response(limit: int) -> Response:
    """pager's one error shape: 413 `payload_too_large`, naming the limit."""
    body = error_body("payload_too_large", f"the request body is larger than the {size_text(limit)} limit")
    return JSONResponse(status_code=413, content=body)


def pagerduty_too_large(limit: int) -> JSONResponse:
    """PagerDuty's own 400 `invalid event` body, as /v2/enqueue answers every event it refuses."""
    body = {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": [f"body: the event is larger than the {size_text(limit)} limit"],
    }
    return JSONResponse(status_code=400, content=body)


@dataclass(frozen=True)
class BodyCap:
    """Bodies of requests whose path starts with `prefix` may hold at most `limit` bytes.

    `refusal` makes the answer to a larger one (a route with its own error shape passes its own).
    """

    prefix: str
    limit: int
    refusal: Callable[[int], Response] = too_large_response


BODY_CAPS = (
    BodyCap("/v2/enqueue", INGEST_MAX_BODY_BYTES, pagerduty_too_large),
    BodyCap("/integrations/", INGEST_MAX_BODY_BYTES),
    BodyCap("/twilio/", TWILIO_MAX_BODY_BYTES),
    BodyCap("/heartbeat/", HEARTBEAT_MAX_BODY_BYTES),
)


class BodyTooLarge(HTTPException):
    """Raised into the app by `receive` once the body passes its cap (the client is answered already).

    An HTTPException, so FastAPI's body parsing lets it through instead of calling it a bad body.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the {size_text(limit)} limit")
        self.limit = limit


class BodyLimitMiddleware:
    """Caps every HTTP request body: the first cap whose prefix the path starts with, else `default`."""

    def __init__(
        self, app: ASGIApp, *, caps: Sequence[BodyCap] = BODY_CAPS, default: int = DEFAULT_MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self.caps = tuple(caps)
        self.default = BodyCap("/", default)

    def cap_for(self, path: str) -> BodyCap:
        """The cap that applies to `path`."""
        return next((cap for cap in self.caps if path.startswith(cap.prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap_for(scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > cap.limit:
            _log_refusal(scope, cap, f"content_length={declared}")
            await cap.refusal(cap.limit)(scope, receive, send)
            return
        await _CappedRequest(self.app, cap)(scope, receive, send)


class _CappedRequest:
    """One request whose body is counted as the app reads it."""

    def __init__(self, app: ASGIApp, cap: BodyCap) -> None:
        self.app = app
        self.cap = cap
        self.received = 0
        self.response_started = False
        self.refused = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted_receive() -> Message:
            if self.refused:  # an app that went on reading gets no more of the body
                raise BodyTooLarge(self.cap.limit)
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.cap.limit:
                    await self._refuse(scope, receive, send)
                    raise BodyTooLarge(self.cap.limit)
            return message

        async def guarded_send(message: Message) -> None:
            if self.refused:  # the app's own answer to BodyTooLarge: the client has had the refusal
                return
            if message["type"] == "http.response.start":
                self.response_started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if not self.refused:
                raise

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.response_started:  # too late to answer: the app's exception ends the response
            return
        _log_refusal(scope, self.cap, f"received={self.received}")
        await self.cap.refusal(self.cap.limit)(scope, receive, send)
        self.refused = True


def _log_refusal(scope: Scope, cap: BodyCap, seen: str) -> None:
    client = scope.get("client") or ("-", 0)
    log.warning("body_too_large path=%s limit=%d %s client=%s", scope["path"], cap.limit, seen, client[0])
