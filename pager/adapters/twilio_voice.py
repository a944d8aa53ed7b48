"""Voice pages through Twilio's Calls API: the summary is spoken, one key press answers.

See docs/phone-and-email.md, "Answering a call".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from twilio.twiml.voice_response import VoiceResponse

from pager.adapters.delivery import DeliveryOutcome, DeliveryResult, Method, Page
from pager.adapters.twilio_client import classify_exception, page_status_callback
from pager.adapters.twilio_sms import CLOCK_SLACK, RECONCILE_PAGE
from pager.core.sms_grammar import KEY_SNOOZE_MINUTES

if TYPE_CHECKING:
    from twilio.rest import Client  # the SDK loads with the client (make_client)

KEYS_PROMPT = (
    f"Press 4 to acknowledge, 6 to resolve, 5 to escalate, 7 to snooze for {KEY_SNOOZE_MINUTES} minutes."
)


def page_twiml(summary: str, gather_url: str) -> str:
    """TwiML that says `summary` and gathers one digit, posting it to `gather_url`."""
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=gather_url, method="POST", timeout=10)
    gather.say(summary)
    gather.say(KEYS_PROMPT)
    response.redirect(gather_url, method="POST")  # no key pressed: the gather handler repeats
    return str(response)


def notice_twiml(text: str) -> str:
    """TwiML that says a notice twice (no keys: a notice has nothing to acknowledge)."""
    response = VoiceResponse()
    response.say(text)
    response.pause(length=1)
    response.say(text)
    return str(response)


class TwilioVoiceNotifier:
    """Places calls; reconciles an uncertain attempt against the number's call list.

    The delivery loop never has two voice attempts to one number in flight, so a call to that
    number created after the attempt is ours.
    """

    method: Method = "voice"

    def __init__(self, client: Client, from_number: str, public_url: str) -> None:
        self.client = client
        self.from_number = from_number
        self.public_url = public_url.rstrip("/")

    def send(self, page: Page) -> DeliveryResult:
        if page.alert_id is None:
            twiml = notice_twiml(page.body)
        else:
            twiml = page_twiml(page.body, f"{self.public_url}/twilio/voice/gather?alert={page.alert_id}")
        status_url = page_status_callback(f"{self.public_url}/twilio/status", page.idempotency_key)
        try:
            call = self.client.calls.create(
                to=page.address,
                from_=self.from_number,
                twiml=twiml,
                status_callback=status_url,
            )
        except Exception as exc:  # classified, never swallowed
            return classify_exception(exc)
        return DeliveryResult(DeliveryOutcome.SENT, provider_id=str(call.sid))

    def reconcile(self, page: Page, attempted_at: datetime) -> str | None:
        """The sid of a call from our number to `page.address` started since the attempt, else None.

        Raises (`TwilioException`, `requests.RequestException`) when Twilio cannot be asked, as
        `TwilioSmsNotifier.reconcile` does: the caller reconciles again later, never re-sends.
        """
        since = attempted_at.astimezone(UTC) - CLOCK_SLACK  # the SDK formats it as UTC as-is
        # No StartTime filter: a call still queued has no start_time yet. Newest first.
        for call in self.client.calls.stream(
            to=page.address, from_=self.from_number, page_size=RECONCILE_PAGE
        ):
            created = call.date_created
            if created is not None and created < since:
                break
            return str(call.sid)
        return None
