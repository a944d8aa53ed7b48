"""The delivery protocol every notifier adapter implements, and the outcome vocabulary.

See docs/delivery.md, "The path of a page" (the outcome table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

Method = Literal["sms", "voice", "email"]

# A provider call's network timeout: Twilio's HTTP client, each step of an SMTP session.
PROVIDER_TIMEOUT_SECONDS = 10.0


class DeliveryOutcome(StrEnum):
    """What a provider call achieved."""

    SENT = "sent"  # the provider accepted it
    TRANSIENT = "transient"  # known not sent, worth retrying (5xx, 429, connection refused)
    PERMANENT = "permanent"  # known not sent, never will be (invalid number, unsubscribed, SMTP 5xx)
    UNKNOWN = "unknown"  # the request may have gone out: reconcile before any retry


@dataclass(frozen=True)
class Page:
    """One message to one person, with the exact text recorded before the provider is called."""

    idempotency_key: str
    alert_id: int | None  # None: a notice (docs/delivery.md, "Notices"), not a page of an alert
    method: Method
    address: str
    body: str
    subject: str = ""
    links: dict[str, str] = field(default_factory=dict)  # email one-click links: action -> URL


@dataclass(frozen=True)
class DeliveryResult:
    """A provider call's outcome; `provider_id` is the message/call SID or Message-ID."""

    outcome: DeliveryOutcome
    provider_id: str | None = None
    error: str | None = None
    error_code: int | None = None


class Notifier(Protocol):
    """Sends pages of one method and can tell whether an uncertain attempt reached the provider."""

    method: Method

    def send(self, page: Page) -> DeliveryResult:
        """Hand `page` to the provider once."""
        ...

    def reconcile(self, page: Page, attempted_at: datetime) -> str | None:
        """The provider's id for `page` if an attempt at `attempted_at` reached it, else None.

        None means "the provider has no record": the page may be sent again. When the provider
        cannot be asked, this raises; the caller keeps the attempt unknown and asks again later.
        """
        ...
