"""Request bodies capped before they are read: a pure ASGI middleware, caps by path prefix.

A body whose Content-Length is over its route's cap is refused at once, before the app runs. A body
without a length (chunked) is counted as the app reads it: the read that passes the cap answers the
refusal and raises `BodyTooLarge` into the app, so nothing past the cap is ever held. The app's
own answer to that exception is dropped; the client gets the cap's refusal. What the client still
sends after that is read and discarded by the server (uvicorn), never buffered.

The bytes of bodies held in memory at once are capped too (`BodyMemory`): a cap per request alone
let one host open thousands of connections, each sending a body just under its cap and then
stalling, until the process held gigabytes (3,000 such bodies of 512 KB took the demo from 124 MB to
1.7 GB). Past the first FREE_BODY_BYTES of each body, which any request may use (uvicorn buffers as
much of a connection's body anyway, and every Twilio form and beat fits), a request's bytes come
from BODY_MEMORY_BYTES shared by all, at most half of it held by one client (an address, an IPv6
/64): a declared length is reserved before the app runs, a chunked body as it is read. A body the
memory cannot hold is answered `503 too_many_large_bodies` with `Retry-After: 1` (at once, or as its
chunk arrives), counted in `pager_http_bodies_refused_total{reason}` and logged at most every 10 s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prometheus_client import Counter
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pager.api.client_shares import ClientShares, Full, RefusalLog
from pager.api.errors import error_body
from pager.api.failure_limits import client_key
from pager.services.ingest.payloads import MAX_BODY_BYTES as INGEST_MAX_BODY_BYTES

log = logging.getLogger("pager.api")

# INGEST_MAX_BODY_BYTES: 512 KB, PagerDuty's limit for an event (alert webhooks are far smaller).
TWILIO_MAX_BODY_BYTES = 64 * 1024  # Twilio's webhook forms are under a kilobyte
HEARTBEAT_MAX_BODY_BYTES = 64 * 1024  # a beat's body is never read; a job may post its log tail
DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # the REST API's largest documents are a few kilobytes
BODY_MEMORY_BYTES = 64 * 1024 * 1024  # bodies held at once, past each one's free bytes
FREE_BODY_BYTES = 64 * 1024
BODY_RETRY_AFTER_SECONDS = 1

BODIES_REFUSED = Counter(
    "pager_http_bodies_refused_total",
    "Request bodies refused because the memory for bodies held at once was full: server_full, "
    "client_full (the client's half)",
    ["reason"],
)


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


_MEMORY_FULL = "too many large request bodies are being received at once"
# Closed after the answer: what the server had buffered of the refused body is freed at once, where a
# kept-alive connection would hold it until the read timeout (3,000 refused 512 KB bodies: +340 MB).
_RETRY = {"Retry-After": str(BODY_RETRY_AFTER_SECONDS), "Connection": "close"}


def memory_full_response() -> Response:
    """503 `too_many_large_bodies`, with Retry-After: the memory for bodies is full for now."""
    body = error_body("too_many_large_bodies", f"{_MEMORY_FULL}; retry shortly")
    return JSONResponse(status_code=503, content=body, headers=_RETRY)


def pagerduty_memory_full() -> Response:
    """The same 503 in the body /v2/enqueue answers every 503 with (PagerDuty's three fields)."""
    body = {"status": "unavailable", "message": f"{_MEMORY_FULL}; retry shortly", "errors": [_MEMORY_FULL]}
    return JSONResponse(status_code=503, content=body, headers=_RETRY)


class BodyMemory(ClientShares):
    """Bytes of request bodies held in memory: `total` in all (half per client unless `per_client` is
    given), counting only what a body holds past its first `free` bytes."""

    def __init__(
        self, total: int = BODY_MEMORY_BYTES, per_client: int | None = None, free: int = FREE_BODY_BYTES
    ) -> None:
        super().__init__(total, per_client)
        self.free = free
        self._log = RefusalLog("http_bodies_refused", BODIES_REFUSED)

    def refused(self, reason: Full, client: str, path: str) -> None:
        """Count (and now and then log) a body refused for want of memory."""
        state = f"path={path} held={self.held} limit={self.total} per_client={self.per_client}"
        self._log.refused(reason, client, time.monotonic(), state)


@dataclass(frozen=True)
class BodyCap:
    """Bodies of requests whose path starts with `prefix` may hold at most `limit` bytes.

    `refusal` makes the answer to a larger one, `busy` the answer to a body the memory for bodies
    cannot hold (a route with its own error shape passes its own).
    """

    prefix: str
    limit: int
    refusal: Callable[[int], Response] = too_large_response
    busy: Callable[[], Response] = memory_full_response


BODY_CAPS = (
    BodyCap("/v2/enqueue", INGEST_MAX_BODY_BYTES, pagerduty_too_large, pagerduty_memory_full),
    BodyCap("/integrations/", INGEST_MAX_BODY_BYTES),
    BodyCap("/twilio/", TWILIO_MAX_BODY_BYTES),
    BodyCap("/heartbeat/", HEARTBEAT_MAX_BODY_BYTES),
)


class BodyRefused(HTTPException):
    """Raised into the app by `receive` once its body is refused (the client is answered already).

    An HTTPException, so FastAPI's body parsing lets it through instead of calling it a bad body.
    """


class BodyTooLarge(BodyRefused):
    """The body passed its cap."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the {size_text(limit)} limit")
        self.limit = limit


class BodyMemoryFull(BodyRefused):
    """The memory for bodies held at once could not hold more of this one."""

    def __init__(self) -> None:
        super().__init__(503, _MEMORY_FULL)


class BodyLimitMiddleware:
    """Caps every HTTP request body: the first cap whose prefix the path starts with, else `default`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        caps: Sequence[BodyCap] = BODY_CAPS,
        default: int = DEFAULT_MAX_BODY_BYTES,
        memory: BodyMemory | None = None,
    ) -> None:
        self.app = app
        self.caps = tuple(caps)
        self.default = BodyCap("/", default)
        self.memory = memory if memory is not None else BodyMemory()

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
        request = _CappedRequest(self.app, cap, self.memory)
        try:
            if declared.isdigit() and not request.hold(int(declared), scope):
                await cap.busy()(scope, receive, send)
                return
            await request(scope, receive, send)
        finally:
            request.release()


class _CappedRequest:
    """One request whose body is counted as the app reads it, and the memory it holds."""

    def __init__(self, app: ASGIApp, cap: BodyCap, memory: BodyMemory) -> None:
        self.app = app
        self.cap = cap
        self.memory = memory
        self.client = ""  # who holds the memory (pager.api.failure_limits.client_key), once it holds any
        self.held = 0  # bytes of `memory` this request holds
        self.received = 0
        self.response_started = False
        self.refusal: BodyRefused | None = None  # raised into the app once its body was refused

    def hold(self, size: int, scope: Scope) -> bool:
        """Make sure `memory` holds a body of `size` bytes for this request; False if it cannot."""
        more = max(0, size - self.memory.free) - self.held
        if more <= 0:
            return True
        if not self.held:  # worked out only for a body past its free bytes: most never get there
            self.client = client_key((scope.get("client") or ("",))[0])
        full = self.memory.take(self.client, more)
        if full is not None:
            self.memory.refused(full, self.client, scope["path"])
            return False
        self.held += more
        return True

    def release(self) -> None:
        """The request is over: the memory its body held is free again."""
        if self.held:
            self.memory.give_back(self.client, self.held)
            self.held = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted_receive() -> Message:
            if self.refusal is not None:  # an app that went on reading gets no more of the body
                raise self.refusal
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.cap.limit:
                    _log_refusal(scope, self.cap, f"received={self.received}")
                    too_large = BodyTooLarge(self.cap.limit)
                    await self._refuse(scope, receive, send, self.cap.refusal(self.cap.limit), too_large)
                    raise too_large
                if not self.hold(self.received, scope):
                    memory_full = BodyMemoryFull()
                    await self._refuse(scope, receive, send, self.cap.busy(), memory_full)
                    raise memory_full
            return message

        async def guarded_send(message: Message) -> None:
            if self.refusal is not None:  # the app's own answer to it: the client has had the refusal
                return
            if message["type"] == "http.response.start":
                self.response_started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyRefused:
            if self.refusal is None:
                raise
        except ClientDisconnect:
            # Gone before its body was whole (or closed by the read timeout): nobody to answer. Left
            # to uvicorn, each one logged a traceback, and a host could fill the log with them.
            client = scope.get("client") or ("-", 0)
            path, received = scope["path"], self.received
            log.info("client_disconnected path=%s received=%d client=%s", path, received, client[0])

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, answer: Response, refusal: BodyRefused
    ) -> None:
        if self.response_started:  # too late to answer: the app's exception ends the response
            return
        await answer(scope, receive, send)
        self.refusal = refusal


def _log_refusal(scope: Scope, cap: BodyCap, seen: str) -> None:
    client = scope.get("client") or ("-", 0)
    log.warning("body_too_large path=%s limit=%d %s client=%s", scope["path"], cap.limit, seen, client[0])
