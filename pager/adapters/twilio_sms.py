"""SMS pages through Twilio's Messages API (the real `twilio` SDK)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from twilio.rest import Client

from pager.adapters.delivery import DeliveryResult, Method, Outcome, Page
from pager.adapters.twilio_client import classify_exception

# Provider clocks and ours differ a little; look this far before the attempt when reconciling.
CLOCK_SLACK = timedelta(seconds=30)


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
                status_callback=self.status_callback,
            )
        except Exception as exc:  # classified, never swallowed: the outcome says what happened
            return classify_exception(exc)
        return DeliveryResult(Outcome.SENT, provider_id=str(message.sid))

    def reconcile(self, page: Page, attempted_at: datetime) -> str | None:
        since = attempted_at.astimezone(UTC) - CLOCK_SLACK  # the SDK formats it as UTC as-is
        for message in self.client.messages.list(
            to=page.address, from_=self.from_number, date_sent_after=since
        ):
            created = message.date_created
            if message.body == page.body and (created is None or created >= since):
                return str(message.sid)
        return None
