"""Limits on HTTP connections, below the app: no client can hold the file descriptors paging needs.

uvicorn keeps a connection open for as long as its request has not arrived: one host opening
connections and sending nothing (or a header a minute) held one descriptor each, until the process
had none left. Then no alert could come in from anyone, and a worker in the same process (`pager
serve`, or the `--metrics-port` server inside `pager worker`) could open no socket to Twilio or the
mail server: paging stopped for as long as the connections were held. So, per server:

- a request must arrive whole (head and body) within REQUEST_READ_SECONDS of the connection opening
  or of the previous response, or the connection is closed;
- at most `total` connections are open, leaving a quarter of the process's descriptor limit
  (RLIMIT_NOFILE), and at least RESERVED_DESCRIPTORS, to the database pool, senders and files;
- one client (an address; an IPv6 address's /64) holds at most half of `total`.

A connection over a cap is answered `503` with `Retry-After` and closed before anything is read.
Refusals are counted in `pager_http_connections_refused_total{reason}` and logged at most once
every 10 s. docs/operations.md, "Operating safely", says how to size the limit.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from typing import Any, Literal

from prometheus_client import Counter
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pager.api.client_shares import ClientShares, Full, RefusalLog
from pager.api.errors import error_body
from pager.api.failure_limits import client_key

REQUEST_READ_SECONDS = 20.0
RESERVED_DESCRIPTORS = 128
Refusal = Full | Literal["read_timeout"]

CONNECTIONS_REFUSED = Counter(
    "pager_http_connections_refused_total",
    "HTTP connections closed by the connection limits: server_full, client_full (refused at once), "
    "read_timeout (no whole request within the read timeout)",
    ["reason"],
)
_BUSY_BODY = json.dumps(error_body("too_many_connections", "too many open connections")).encode()
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)


def descriptor_budget() -> int:
    """Connections a server may hold: the descriptor limit less a quarter (at least the reserve)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(16, soft - max(RESERVED_DESCRIPTORS, soft // 4))


class ConnectionBudget(ClientShares):
    """Open connections, in all and per client."""

    def __init__(self, total: int, per_client: int | None = None) -> None:
        super().__init__(total, per_client)
        self._log = RefusalLog("http_connections_refused", CONNECTIONS_REFUSED)

    @property
    def open(self) -> int:
        """Connections open now."""
        return self.held

    def admit(self, client: str) -> Refusal | None:
        """Count a new connection of `client` in, or say why it is refused (and count nothing)."""
        return self.take(client)

    def release(self, client: str) -> None:
        """An admitted connection of `client` closed."""
        self.give_back(client)

    def refused(self, reason: Refusal, client: str, now: float) -> None:
        """Count (and now and then log) a refusal."""
        state = f"open={self.open} limit={self.total} per_client={self.per_client}"
        self._log.refused(reason, client, now, state)


def limited_http(
    budget: ConnectionBudget, read_seconds: float = REQUEST_READ_SECONDS
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol (httptools) held to `budget` and to the request read timeout; pass
    it to uvicorn as `http=`."""

    class LimitedHttp(HttpToolsProtocol):
        _client_key: str | None = None
        _read_timer: asyncio.TimerHandle | None = None
        _mid_message = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            client = client_key(self.client[0] if self.client else "")
            refusal = budget.admit(client)
            if refusal is not None:
                budget.refused(refusal, client, time.monotonic())
                self.transport.write(_BUSY)
                self.transport.close()
                return
            self._client_key = client
            self._restart_clock()

        # The client's clock for its next request restarts when the connection opens, when a request
        # has arrived whole and when a response is sent; it stops only while this side owes a response.
        def on_message_begin(self) -> None:
            self._mid_message = True
            super().on_message_begin()

        def on_message_complete(self) -> None:
            self._mid_message = False
            self._restart_clock()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._restart_clock()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
                self._read_timer = None
            if self._client_key is not None:
                budget.release(self._client_key)
                self._client_key = None
            super().connection_lost(exc)

        def _restart_clock(self) -> None:
            if self._read_timer is not None:
                self._read_timer.cancel()
            self._read_timer = self.loop.call_later(read_seconds, self._read_timed_out)

        def _read_timed_out(self) -> None:
            self._read_timer = None
            if self.transport.is_closing():
                return
            if not self._mid_message and self.cycle is not None and not self.cycle.response_complete:
                self._restart_clock()  # the app is still answering: this side is late, not the client
                return
            budget.refused("read_timeout", self._client_key or "unknown", time.monotonic())
            self.transport.close()

    return LimitedHttp


def uvicorn_limits(budget: ConnectionBudget | None = None) -> dict[str, Any]:
    """The uvicorn settings that apply the limits (`uvicorn.run(app, **uvicorn_limits())`)."""
    return {"http": limited_http(budget or ConnectionBudget(descriptor_budget()))}
