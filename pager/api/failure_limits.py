"""Per-client limits on failures: unknown integration and heartbeat keys, bad Twilio signatures, bad
bearer tokens.

A client (the connection's peer address; an IPv6 address counts with its whole /64, which one host
usually holds) that fails more than `max_failures` times within `window_seconds` is refused with
429 and `Retry-After` until its oldest failure leaves the window. Refusals are cheap: they come
before the body is read or the database is asked, and they do not count as failures themselves, so
a client that stops failing is let in again within one window.

Limits are in memory, per app (`app.state`) and per kind of failure: with several server processes
each keeps its own. The number of clients tracked is capped; past it, the one that failed least
recently is forgotten.

A router uses it in two lines: `refuse_if_blocked(request, KIND)` before the check that may fail
(raises TooManyFailures, a 429), and `record_failure(request, KIND)` when it failed.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict, deque

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from pager.api.app_state import app_object

log = logging.getLogger("pager.api")

UNKNOWN_INTEGRATION_KEY = "unknown_integration_key"
BAD_TWILIO_SIGNATURE = "bad_twilio_signature"
BAD_BEARER_TOKEN = "bad_bearer_token"
BAD_FEED_TOKEN = "bad_feed_token"
UNKNOWN_HEARTBEAT_KEY = "unknown_heartbeat_key"
BAD_EMAIL_LINK = "bad_email_link"
# Not a failure: every ask for a console login link counts (each is an email to someone).
LOGIN_LINK_ASKS = "login_link_asks"

MAX_FAILURES = 20
WINDOW_SECONDS = 60.0
MAX_CLIENTS = 10_000


class FailureLimiter:
    """Counts failures per client in a sliding window; pure logic, `now` (seconds) passed in, thread-safe."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_seconds: float = WINDOW_SECONDS,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        if max_failures < 1 or window_seconds <= 0 or max_clients < 1:
            raise ValueError("max_failures and max_clients must be >= 1 and window_seconds > 0")
        self.max_failures = max_failures
        self.window = window_seconds
        self.max_clients = max_clients
        # client -> times of its recent failures (at most max_failures), least recently failed first.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many clients are tracked."""
        return len(self._failures)

    def blocked(self, client: str, now: float) -> float | None:
        """Seconds `client` must wait before it is let in again; None when it is not blocked."""
        with self._lock:
            failures = self._recent(client, now)
            if failures is None or len(failures) < self.max_failures:
                return None
            return failures[0] + self.window - now

    def admit(self, client: str, now: float) -> bool:
        """Count one event of `client` at `now` if it has fewer than the maximum in the window;
        False (nothing counted) when it has that many already. One step, for a cap on events that are
        not failures (login links asked for one person)."""
        with self._lock:
            failures = self._recent(client, now)
            if failures is not None and len(failures) >= self.max_failures:
                return False
            self._record(client, failures, now)
            return True

    def record_failure(self, client: str, now: float) -> None:
        """Count one failure of `client` at `now`."""
        with self._lock:
            self._record(client, self._recent(client, now), now)

    def _record(self, client: str, failures: deque[float] | None, now: float) -> None:
        if failures is None:
            if len(self._failures) >= self.max_clients:
                self._failures.popitem(last=False)
            failures = self._failures[client] = deque(maxlen=self.max_failures)
        else:
            self._failures.move_to_end(client)
        failures.append(now)

    def _recent(self, client: str, now: float) -> deque[float] | None:
        """`client`'s failures still inside the window (the client is forgotten when none are)."""
        failures = self._failures.get(client)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures


def failure_limiter(owner: Starlette | HTTPConnection, kind: str) -> FailureLimiter:
    """The app's limiter for failures of `kind` (made on first use); `owner` is the app or a request."""
    return app_object(owner, f"failure_limiter_{kind}", FailureLimiter)


def client_of(connection: HTTPConnection) -> str:
    """Who is asking: the peer address (an IPv6 address as its /64 network)."""
    return client_key(connection.client.host if connection.client is not None else "")


def client_key(host: str) -> str:
    """The client a peer address counts as: an IPv4 address, or an IPv6 address's /64 network."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network((address, 64), strict=False))
    return str(address)


class TooManyFailures(HTTPException):
    """429: the client failed too often; `Retry-After` says when to come back."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(
            429,
            f"too many failed requests from your address; retry in {self.retry_after} s",
            headers={"Retry-After": str(self.retry_after)},
        )


def refuse_if_blocked(connection: HTTPConnection, kind: str) -> None:
    """Raise TooManyFailures when the connection's client is blocked for failures of `kind`."""
    wait = failure_limiter(connection, kind).blocked(client_of(connection), time.monotonic())
    if wait is not None:
        raise TooManyFailures(wait)


def record_failure(connection: HTTPConnection, kind: str) -> None:
    """Count a failure of `kind` against the connection's client."""
    limiter, client, now = failure_limiter(connection, kind), client_of(connection), time.monotonic()
    limiter.record_failure(client, now)
    wait = limiter.blocked(client, now)
    if wait is not None:  # this failure was the one too many (blocked clients fail no more)
        log.warning("client_blocked kind=%s client=%s retry_after=%.0f", kind, client, wait)
