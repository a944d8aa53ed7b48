"""The demo's phone (/demo/phone): each demo person's SMS pages, and their replies sent to pager as
Twilio would send them (form fields and X-Twilio-Signature), so the signed /twilio/sms route handles
them exactly as it handles a real reply. See docs/console.md, "The demo's phone"."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree

from sqlmodel import Session
from twilio.request_validator import RequestValidator

from pager.db.phone_inbox import people_with_handles, sms_page_to, sms_pages_to
from pager.db.users import find_user_by_handle
from pager.services.demo import demo_handles
from pager.services.errors import InvalidInput, NotFound
from pager.services.runtime import Runtime
from pager.services.transactions import read_only

SHOWN = 20  # newest SMS pages shown per person
MAX_REPLY = 160  # one SMS segment
SMS_PATH = "/twilio/sms"


@dataclass(frozen=True)
class PhoneMessage:
    """One SMS page as the person's phone shows it."""

    id: int
    at: datetime
    alert_id: int | None
    summary: str | None
    text: str
    status: str


@dataclass(frozen=True)
class Phone:
    """One demo person's phone: their handle, name and the SMS pages sent to them."""

    handle: str
    name: str
    messages: list[PhoneMessage]


@dataclass(frozen=True)
class SignedReply:
    """A reply as Twilio would post it to /twilio/sms: the form and its X-Twilio-Signature."""

    form: dict[str, str]
    signature: str


def phones(runtime: Runtime) -> list[Phone]:
    """Every demo person (the handles the loaded schedules and policies name) with their SMS pages."""

    def read(session: Session) -> list[Phone]:
        return [
            Phone(handle, name, [PhoneMessage(*row) for row in sms_pages_to(session, user_id, SHOWN)])
            for user_id, handle, name in people_with_handles(session, demo_handles(runtime.config))
        ]

    return read_only(runtime.engine, read)


def signed_reply(runtime: Runtime, handle: str, message_id: int, text: str) -> SignedReply:
    """The Twilio inbound-SMS form for `handle` answering SMS page `message_id` with `text`, signed with
    the Twilio auth token for PAGER_PUBLIC_URL + /twilio/sms (what the route checks).

    From is the number the page went to, To our Twilio number. NotFound when the page is not one of
    that person's SMS pages; InvalidInput for an empty or over-long text or no auth token."""
    text = text.strip()
    if not text:
        raise InvalidInput("type a reply first")
    if len(text) > MAX_REPLY:
        raise InvalidInput(f"a reply is at most {MAX_REPLY} characters")
    settings = runtime.settings
    if not settings.twilio_auth_token:
        raise InvalidInput("the demo has no Twilio auth token to sign replies with")

    def read(session: Session) -> str:
        user = find_user_by_handle(session, handle)
        page = sms_page_to(session, user.id, message_id) if user is not None and user.id else None
        if page is None:
            raise NotFound(f"no SMS page {message_id} to {handle!r}")
        return page.address

    number = read_only(runtime.engine, read)
    sid = "SM" + secrets.token_hex(16)
    form = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "AccountSid": settings.twilio_account_sid or "AC" + "0" * 32,
        "From": number,
        "To": settings.twilio_from_number or "",
        "Body": text,
        "NumMedia": "0",
        "NumSegments": "1",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
    }
    url = settings.public_url.rstrip("/") + SMS_PATH
    signature = RequestValidator(settings.twilio_auth_token).compute_signature(url, form)
    return SignedReply(form, signature)


def twiml_messages(twiml: str) -> list[str]:
    """The texts of the <Message> elements of a TwiML answer (pager's own; empty when it is not XML)."""
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError:
        return []
    return [element.text or "" for element in root.iter("Message")]
