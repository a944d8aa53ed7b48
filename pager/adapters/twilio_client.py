"""Shared Twilio plumbing: building the SDK client and classifying its failures.

The SDK (and requests) is imported inside the functions that use it: the API process imports this
module through the voice TwiML it renders, and never builds a client (docs/operations.md, "Memory").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from pager.adapters.delivery import PROVIDER_TIMEOUT_SECONDS, DeliveryOutcome, DeliveryResult

# Our own credentials or account, not the recipient: retried (an operator can fix it), and the
# page falls back to another method only after the retries run out.
_ACCOUNT_STATUSES = frozenset({401, 403})

if TYPE_CHECKING:
    from twilio.rest import Client


# Kept-alive connections to the API: at least as many as the worker's parallel senders. The SDK's
# own HTTPS pool holds cpu_count + 4, and every send beyond that paid for a new TLS connection.
CONNECTION_POOL_SIZE = 48


def make_client(
    account_sid: str, auth_token: str, api_base: str | None = None, timeout: float = PROVIDER_TIMEOUT_SECONDS
) -> Client:
    """A twilio SDK client; `api_base` points it at another host (our fake in tests)."""
    import requests.adapters
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    from pager.adapters.twilio_session import EnvironmentOnceSession

    http_client = TwilioHttpClient(timeout=timeout)
    # requests' session, reading the proxy and CA-bundle variables once per host, not per call.
    http_client.session = EnvironmentOnceSession()
    for scheme in ("https://", "http://"):
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=CONNECTION_POOL_SIZE)
        http_client.session.mount(scheme, adapter)
    client = Client(account_sid, auth_token, http_client=http_client)
    if api_base:
        # TWILIO_EDGE / TWILIO_REGION in the environment would rewrite the host of every URL.
        client.edge = None
        client.region = None
        client.api.base_url = api_base.rstrip("/")
    return client


def classify_exception(exc: Exception) -> DeliveryResult:
    """Map an SDK or transport exception to an outcome (docs/delivery.md, "The path of a page")."""
    import requests
    from twilio.base.exceptions import TwilioRestException

    if isinstance(exc, TwilioRestException):
        code = int(exc.code) if isinstance(exc.code, int) else None
        message = f"twilio {exc.status}" + (f" error {code}" if code else "") + f": {exc.msg}"
        if exc.status >= 500 or exc.status == 429 or exc.status in _ACCOUNT_STATUSES:
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=message, error_code=code)
        return DeliveryResult(DeliveryOutcome.PERMANENT, error=message, error_code=code)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"connect timeout: {exc}")
    if isinstance(exc, requests.exceptions.ConnectionError) and _refused(exc):
        return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"connection refused: {exc}")
    # A read timeout or a dropped connection: the request may have been accepted.
    return DeliveryResult(DeliveryOutcome.UNKNOWN, error=f"{type(exc).__name__}: {exc}")


def _refused(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or "NewConnectionError" in type(current).__name__:
            return True
        if "Connection refused" in str(current) or "NewConnectionError" in str(current):
            return True
        current = current.__cause__ or current.__context__ or _reason(current)
    return False


def _reason(exc: BaseException) -> BaseException | None:
    reason: Any = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], BaseException) else None


def page_status_callback(status_url: str, idempotency_key: str) -> str:
    """The status callback URL for one page: it names the page, so a delivery report that arrives
    before the send's outcome is recorded (before the page has a provider id) still finds it."""
    return f"{status_url}?{urlencode({'page': idempotency_key})}"
