"""Posting a webhook to a real local receiver (docs/integrations.md): signed headers, no redirects,
network failures retried."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from standardwebhooks import Webhook

from pager.adapters.webhook_sender import WebhookMessage, post_webhook
from tests.webhook_receiver import receiver

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def message(url: str, format: str = "standard") -> WebhookMessage:
    return WebhookMessage(url, format, SECRET, "msg_1", datetime.now(UTC), {"type": "alert.triggered"})


def test_a_standard_post_carries_the_three_signed_headers() -> None:
    with receiver() as hook:
        assert post_webhook(message(hook.url)).kind == "sent"
    (request,) = hook.requests
    assert request.headers["webhook-id"] == "msg_1"
    assert Webhook(SECRET).verify(request.body, request.headers) == {"type": "alert.triggered"}


def test_a_redirect_is_never_followed_and_fails_for_good() -> None:
    with receiver() as elsewhere, receiver(then=302) as hook:
        hook.location = elsewhere.url
        outcome = post_webhook(message(hook.url, "slack"))
    assert (outcome.kind, outcome.detail) == ("permanent", "HTTP 302")
    assert elsewhere.requests == []


def test_a_refused_connection_is_retried() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    outcome = post_webhook(message(f"http://127.0.0.1:{port}/hook", "mattermost"), timeout=2)
    assert outcome.kind == "transient" and outcome.detail.startswith("connection")
