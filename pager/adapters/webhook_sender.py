"""Posting one outgoing webhook (docs/integrations.md): `standard` signed per the Standard Webhooks
spec with the `standardwebhooks` library; `slack` and `mattermost` as a plain JSON POST of the
incoming-webhook message. Never follows a redirect. The secret is never logged.

slack-sdk's WebhookClient is not used: it posts through urllib's default opener, which follows a
301/302/303 to any host (as a GET), and a webhook must never be redirected elsewhere; the message
body it would send is the same `{"text": ...}` posted here.

httpx (which brings rich, click and pygments with it when they are installed) and standardwebhooks
load on the first webhook sent: a worker without subscriptions never imports them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

WebhookOutcomeKind = Literal["sent", "transient", "permanent"]
TIMEOUT_SECONDS = 10.0
_RETRIED_4XX = (408, 429)


@dataclass(frozen=True)
class WebhookOutcome:
    """One attempt's outcome: sent, worth retrying (5xx, 408, 429, timeout, connection) or failed for good."""

    kind: WebhookOutcomeKind
    detail: str


@dataclass(frozen=True)
class WebhookMessage:
    """One delivery: `message_id` is the same on every retry of it (the `webhook-id` header)."""

    url: str
    format: str
    secret: str
    message_id: str
    timestamp: datetime
    body: dict[str, Any]


def outcome_of_status(status: int) -> WebhookOutcome:
    """2xx sent; 5xx, 408 and 429 retried; any other answer failed for good (a redirect included)."""
    if 200 <= status < 300:
        return WebhookOutcome("sent", f"HTTP {status}")
    if status >= 500 or status in _RETRIED_4XX:
        return WebhookOutcome("transient", f"HTTP {status}")
    return WebhookOutcome("permanent", f"HTTP {status}")


def post_webhook(message: WebhookMessage, timeout: float = TIMEOUT_SECONDS) -> WebhookOutcome:
    """Send one webhook and say how it went; never raises for a network failure."""
    import httpx
    from standardwebhooks import Webhook

    payload = json.dumps(message.body, separators=(",", ":"), ensure_ascii=False)
    headers = {"content-type": "application/json", "user-agent": "pager-webhooks"}
    if message.format == "standard":
        signature = Webhook(message.secret).sign(message.message_id, message.timestamp, payload)
        headers |= {
            "webhook-id": message.message_id,
            "webhook-timestamp": str(int(message.timestamp.timestamp())),
            "webhook-signature": signature,
        }
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.post(message.url, content=payload.encode("utf-8"), headers=headers)
    except httpx.TimeoutException as error:
        return WebhookOutcome("transient", f"timeout: {type(error).__name__}")
    except httpx.HTTPError as error:
        return WebhookOutcome("transient", f"connection: {type(error).__name__}: {error}")
    return outcome_of_status(response.status_code)
