"""Bearer-token authentication for /api/v1, done before anything reads the request's body.

FastAPI reads and parses a body before it solves a route's dependencies, so a dependency cannot
authenticate first. This ASGI middleware does: it reads the Authorization header, looks the token
up read-only (a thread of its own, no writer), and answers 401 itself, so an unauthenticated
request never has its body read or a writing session opened. A live token travels to the route in
`scope["state"]["bearer"]`, where `pager.api.deps.require_role` checks its role.

`last_used_at` is written at most once a minute per token, after the response, by one background
thread: a flood of requests with one token costs at most one write a minute.

A client address with more than 20 failed authentications in a minute gets 429 with Retry-After,
without a database read (pager.api.failure_limits), unless it presents a token that has already
worked in this process.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from pager.api.errors import error_response
from pager.api.failure_limits import BAD_BEARER_TOKEN, TooManyFailures, record_failure, refuse_if_blocked
from pager.services.people.tokens import Bearer, TokenUse, find_bearer, token_hash
from pager.services.runtime import Runtime

log = logging.getLogger("pager.api.auth")

PROTECTED_PREFIX = "/api/v1"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class BearerAuthentication:
    """ASGI middleware: /api/v1 requests need a live bearer token before anything else happens."""

    def __init__(self, app: ASGIApp, runtime: Runtime, usage: TokenUsageWriter) -> None:
        self.app = app
        self.runtime = runtime
        self.usage = usage
        self.known = KnownTokens()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        token = _presented_token(scope)
        # A client that failed too often is refused without a database read, unless it presents a
        # token this process has already seen work (one bad script must not lock out its neighbours).
        if not self.known.holds(token):
            try:
                refuse_if_blocked(connection, BAD_BEARER_TOKEN)
            except TooManyFailures as exc:
                await self._refuse(scope, receive, send, 429, "throttled", str(exc.detail), exc.headers)
                return
        if token is None:
            record_failure(connection, BAD_BEARER_TOKEN)
            await self._refuse(scope, receive, send, 401, "unauthorized", "missing bearer token")
            return
        try:
            bearer = await anyio.to_thread.run_sync(find_bearer, self.runtime.engine, token)
        except SQLAlchemyError as exc:
            log.warning("auth_lookup_failed error=%s", type(exc).__name__)
            response = error_response(503, "database_unavailable", "the database is not answering")
            response.headers["Retry-After"] = "5"
            await response(scope, receive, send)
            return
        if bearer is None:
            self.known.forget(token)
            record_failure(connection, BAD_BEARER_TOKEN)
            await self._refuse(scope, receive, send, 401, "unauthorized", "invalid or revoked token")
            return
        self.known.add(token)
        scope.setdefault("state", {})["bearer"] = bearer
        await self.app(scope, receive, send)
        self.usage.note(bearer)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        response = error_response(status, code, message)
        for name, value in (headers or _CHALLENGE).items():
            response.headers[name] = value
        await response(scope, receive, send)


class KnownTokens:
    """Hashes of tokens that authenticated in this process (bounded; a revoked one is forgotten)."""

    LIMIT = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hashes: OrderedDict[str, None] = OrderedDict()

    def holds(self, token: str | None) -> bool:
        """Whether `token` has worked here before."""
        if token is None:
            return False
        with self._lock:
            return token_hash(token) in self._hashes

    def add(self, token: str) -> None:
        with self._lock:
            self._hashes[token_hash(token)] = None
            self._hashes.move_to_end(token_hash(token))
            while len(self._hashes) > self.LIMIT:
                self._hashes.popitem(last=False)

    def forget(self, token: str) -> None:
        with self._lock:
            self._hashes.pop(token_hash(token), None)


class TokenUsageWriter:
    """Writes tokens' `last_used_at` from one background thread, at most once a minute per token."""

    def __init__(self, runtime: Runtime, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.runtime = runtime
        self.clock = clock
        self.token_use = TokenUse()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pager-token-use")

    def note(self, bearer: Bearer) -> None:
        """A request used `bearer` now: queue a write if the last one is a minute old."""
        now = self.clock()
        if self.token_use.due(bearer, now):
            future = self._writer.submit(TokenUse.write, self.runtime.engine, bearer.id, now)
            future.add_done_callback(_log_failed_write)

    def wait_idle(self) -> None:
        """Block until every write queued so far is done (tests, shutdown)."""
        self._writer.submit(lambda: None).result()

    def shutdown(self) -> None:
        """Finish the queued writes (each is one short UPDATE)."""
        self._writer.shutdown(wait=True)


def _protected(path: str) -> bool:
    return path == PROTECTED_PREFIX or path.startswith(PROTECTED_PREFIX + "/")


def _presented_token(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            credentials = credentials.strip()
            if scheme.lower() == "bearer" and credentials:
                return credentials
            return None
    return None


def _log_failed_write(future: Any) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("token_use_write_failed error=%s", type(exc).__name__)
