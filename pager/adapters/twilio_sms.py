"""SMS pages through Twilio's Messages API (the real `twilio` SDK)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pager.adapters.delivery import DeliveryOutcome, DeliveryResult, Method, Page
from pager.adapters.twilio_client import classify_exception, page_status_callback

if TYPE_CHECKING:
    from twilio.rest import Client  # the SDK loads with the client (make_client)

# Provider clocks and ours differ a little; look this far before the attempt when reconciling.
CLOCK_SLACK = timedelta(seconds=30)
# Reconciliation reads the number's newest messages/calls a page at a time, as far as the attempt.
RECONCILE_PAGE = 50


class TwilioSmsNotifier:
    """Sends SMS; reconciles an uncertain attempt against the number's message list."""

    method: Method = "sms"

    def __init__(self, client: Client, from_number: str, status_callback: str | None) -> None:
        self.client = client
        self.from_number = from_number
        self.status_callback = status_callback

    def send(self, page: Page) -> DeliveryResult:
        try:
            message = self.client.messages.create(
                to=page.address,
                from_=self.from_number,
                body=page.body,
                status_callback=(
                    page_status_callback(self.status_callback, page.idempotency_key)
                    if self.status_callback
                    else None
                ),
            )
        except Exception as exc:  # classified, never swallowed: the outcome says what happened
            return classify_exception(exc)
        return DeliveryResult(DeliveryOutcome.SENT, provider_id=str(message.sid))

    def reconcile(self, page: Page, attempted_at: datetime) -> str | None:
        """The sid of a message to `page.address` with exactly `page.body`, sent since the attempt.

        None means Twilio has no such message, so the page may be sent again. When Twilio cannot
        be asked this raises whatever the SDK raised (`TwilioException` for an error answer to the
        list, `requests.RequestException` for the transport) instead: "don't know" must never read
        as "not sent". The caller keeps the attempt unknown and reconciles again later.
        """
        since = attempted_at.astimezone(UTC) - CLOCK_SLACK  # the SDK formats it as UTC as-is
        # No DateSent filter: a message still queued has no date_sent yet and would be missed.
        # The list is newest first, so stop at the first message created before the attempt.
        for message in self.client.messages.stream(
            to=page.address, from_=self.from_number, page_size=RECONCILE_PAGE
        ):
            created = message.date_created
            if created is not None and created < since:
                break
            if message.body == page.body:
                return str(message.sid)
        return None
