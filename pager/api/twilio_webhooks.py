"""Twilio webhooks: inbound SMS, voice answer and key press, delivery status callbacks.

See docs/phone-and-email.md.

Every request must carry a valid `X-Twilio-Signature` for the URL Twilio was given, which is rebuilt
from PAGER_PUBLIC_URL (not from the Host header a proxy may rewrite) plus the path and query: a
missing or wrong signature is a 403 and nothing is read or changed. An address that sent more than
20 of those within a minute gets 429 before its body is read (pager.api.failure_limits).

A signed request can be replayed by whoever captured it: inbound SMS and key presses are acted on
once per MessageSid / CallSid (pager.services.phone.replies); status callbacks are idempotent by themselves.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from pager.adapters.twilio_voice import page_twiml
from pager.api.body_limits import TWILIO_MAX_BODY_BYTES
from pager.api.deps import MAX_ID, NowDep, RuntimeDep
from pager.api.failure_limits import BAD_TWILIO_SIGNATURE, record_failure, refuse_if_blocked
from pager.services.errors import InvalidInput
from pager.services.phone import replies as phone
from pager.services.runtime import Runtime

router = APIRouter(prefix="/twilio", tags=["twilio"])

SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_FORM_BYTES = TWILIO_MAX_BODY_BYTES  # Twilio's posts are a few hundred bytes
MAX_PROMPTS = 3  # a voicemail would otherwise hear the prompt until the call times out
XML = "application/xml"


async def signed_form(request: Request, runtime: RuntimeDep) -> dict[str, str]:
    """The posted form, once its X-Twilio-Signature checks out; 403 otherwise."""
    auth_token = runtime.settings.twilio_auth_token
    if not auth_token:
        raise HTTPException(403, "Twilio webhooks are off: TWILIO_AUTH_TOKEN is not set")
    refuse_if_blocked(request, BAD_TWILIO_SIGNATURE)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        record_failure(request, BAD_TWILIO_SIGNATURE)
        raise HTTPException(403, f"missing {SIGNATURE_HEADER}")
    body = await request.body()  # at most MAX_FORM_BYTES: pager.api.body_limits caps it first
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(413, f"form larger than {MAX_FORM_BYTES} bytes")
    form = ImmutableMultiDict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    url = runtime.settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    if not RequestValidator(auth_token).validate(url, form, signature):
        record_failure(request, BAD_TWILIO_SIGNATURE)
        raise HTTPException(403, f"invalid {SIGNATURE_HEADER} for {url}")
    return dict(form.items())


TwilioForm = Annotated[dict[str, str], Depends(signed_form)]


def _field(form: dict[str, str], *names: str) -> str:
    for name in names:
        value = form.get(name, "").strip()
        if value:
            return value
    raise InvalidInput(f"form field {names[0]} is required")


def _person(form: dict[str, str]) -> str:
    """The number of the person on the call: the callee of our outbound call, else the caller."""
    direction = form.get("Direction", "")
    return _field(form, "To") if direction.startswith("outbound") else _field(form, "From")


def _xml(twiml: object) -> Response:
    return Response(content=str(twiml), media_type=XML)


def _form_body(fields: dict[str, str], required: list[str]) -> dict[str, Any]:
    properties = {name: {"type": "string", "description": text} for name, text in fields.items()}
    schema = {"type": "object", "properties": properties, "required": required}
    content = {"application/x-www-form-urlencoded": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


def _error(description: str, code: str, message: str) -> dict[str, Any]:
    example = {"error": {"code": code, "message": message, "details": []}}
    return {"description": description, "content": {"application/json": {"example": example}}}


def _twiml_doc(description: str, example: str) -> dict[str, Any]:
    return {"description": description, "content": {XML: {"schema": {"type": "string"}, "example": example}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    403: _error(
        "Missing or invalid X-Twilio-Signature; nothing changed", "forbidden", "missing X-Twilio-Signature"
    ),
    413: _error("Form too large", "payload_too_large", "the request body is larger than the 64 KB limit"),
    422: _error(
        "A required form field or query parameter is missing", "invalid_input", "form field From is required"
    ),
    429: _error(
        "More than 20 bad signatures from this address within a minute; retry after Retry-After seconds",
        "throttled",
        "too many failed requests from your address; retry in 42 s",
    ),
}
ALERT_QUERY = Query(
    ge=1, le=MAX_ID, description="The alert the call is about (set by the pager when it places the call)"
)
VOICE_FIELDS = {
    "From": "Caller number (E.164)",
    "To": "Called number (E.164)",
    "Direction": "`outbound-api` for calls the pager placed: the person is then `To`",
    "CallSid": "Twilio call id",
}


@router.post(
    "/sms",
    summary="Inbound SMS: acknowledge, resolve or escalate by reply",
    description="Replies like `42a`, `42 r`, `esc 42`, `snooze 42 30`, or `a` / `4` / `snooze 30` alone "
    "for your one open alert. "
    "Answers TwiML with one message saying what happened. A message is acted on once: another post "
    "with the same MessageSid (a retry or a replay) changes nothing and gets an empty `<Response/>`.",
    response_class=Response,
    responses={
        200: _twiml_doc(
            "TwiML reply",
            '<?xml version="1.0" encoding="UTF-8"?><Response>'
            "<Message>Alert 42 acknowledged.</Message></Response>",
        ),
        **ERRORS,
    },
    openapi_extra=_form_body(
        {"From": "Sender number (E.164)", "Body": "Message text", "MessageSid": "Twilio message id"},
        ["From", "MessageSid"],
    ),
)
def inbound_sms(form: TwilioForm, runtime: RuntimeDep, now: NowDep) -> Response:
    sid = _field(form, "MessageSid", "SmsSid")
    reply = phone.handle_sms(runtime, _field(form, "From"), form.get("Body", ""), now, message_sid=sid)
    response = MessagingResponse()
    if reply is not None:  # None: a message handled before, which gets no second reply
        response.message(reply)
    return _xml(response)


def _voice_twiml(runtime: Runtime, reply: phone.VoiceReply, attempt: int) -> Response:
    if isinstance(reply, phone.VoiceDone):
        response = VoiceResponse()
        response.say(reply.text)
        response.hangup()
        return _xml(response)
    if attempt > MAX_PROMPTS:
        response = VoiceResponse()
        response.say("No key pressed. Goodbye.")
        response.hangup()
        return _xml(response)
    public = runtime.settings.public_url.rstrip("/")
    gather_url = f"{public}/twilio/voice/gather?alert={reply.alert_id}&attempt={attempt}"
    return Response(content=page_twiml(reply.text, gather_url), media_type=XML)


PROMPT_EXAMPLE = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="https://pager.example.com/'
    'twilio/voice/gather?alert=42&amp;attempt=1" method="POST" numDigits="1" timeout="10">'
    "<Say>Pager alert 42 for Checkout API. High error rate.</Say>"
    "<Say>Press 4 to acknowledge, 6 to resolve, 5 to escalate, 7 to snooze for 30 minutes.</Say></Gather>"
    "<Redirect>...</Redirect></Response>"
)


@router.post(
    "/voice",
    summary="Voice call answered: say the alert and ask for a key",
    description="TwiML that says the alert and gathers one key (4 ack, 6 resolve, 5 escalate, 7 snooze "
    "for 30 minutes). Only a "
    "person who was paged for the alert hears it.",
    response_class=Response,
    responses={200: _twiml_doc("TwiML", PROMPT_EXAMPLE), **ERRORS},
    openapi_extra=_form_body(VOICE_FIELDS, ["To"]),
)
def voice_answered(form: TwilioForm, runtime: RuntimeDep, alert: Annotated[int, ALERT_QUERY]) -> Response:
    return _voice_twiml(runtime, phone.voice_answer(runtime, alert, _person(form)), 1)


@router.post(
    "/voice/gather",
    summary="Voice key pressed: 4 acknowledge, 6 resolve, 5 escalate, 7 snooze 30 minutes",
    description="Any other key (or none) repeats the prompt, at most three times. One key acts per "
    "call: another post of 4, 6, 5 or 7 for the same CallSid (a retry or a replay) changes nothing.",
    response_class=Response,
    responses={
        200: _twiml_doc(
            "TwiML",
            '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Alert 42 acknowledged. Goodbye.</Say>'
            "<Hangup /></Response>",
        ),
        **ERRORS,
    },
    openapi_extra=_form_body({**VOICE_FIELDS, "Digits": "The key pressed"}, ["To", "CallSid"]),
)
def voice_gathered(
    form: TwilioForm,
    runtime: RuntimeDep,
    now: NowDep,
    alert: Annotated[int, ALERT_QUERY],
    attempt: Annotated[int, Query(ge=1, le=100, description="How many times the prompt was said")] = 1,
) -> Response:
    person, call_sid = _person(form), _field(form, "CallSid")
    reply = phone.voice_keypress(runtime, alert, person, form.get("Digits", ""), now, call_sid=call_sid)
    return _voice_twiml(runtime, reply, attempt + 1)


class StatusCallbackResult(BaseModel):
    """What the callback did to the page (Twilio ignores the body; it helps people debugging)."""

    outcome: Literal["delivered", "failed", "progress", "already_final", "unknown_page"]
    alert_id: int | None


@router.post(
    "/status",
    summary="Delivery status callback for an SMS or a call",
    description="`delivered` / `completed` mark the page delivered; `failed`, `undelivered`, `busy`, "
    "`no-answer` and `canceled` mark it failed and bring the person's next method forward.",
    response_model=StatusCallbackResult,
    responses=ERRORS,
    openapi_extra=_form_body(
        {
            "MessageSid": "Twilio message id (SMS callbacks)",
            "MessageStatus": "queued, sending, sent, delivered, undelivered, failed",
            "CallSid": "Twilio call id (call callbacks)",
            "CallStatus": "queued, initiated, ringing, in-progress, completed, busy, no-answer, failed, "
            "canceled",
            "ErrorCode": "Twilio error code on failure",
        },
        [],
    ),
)
def status_callback(
    form: TwilioForm,
    runtime: RuntimeDep,
    now: NowDep,
    page: Annotated[
        str | None,
        Query(
            max_length=255,
            description="The page's idempotency key, set by pager in the callback URL it gives Twilio",
        ),
    ] = None,
) -> StatusCallbackResult:
    provider_id = _field(form, "MessageSid", "CallSid", "SmsSid")
    status = _field(form, "MessageStatus", "CallStatus", "SmsStatus")
    error_code = form.get("ErrorCode") or None
    update = phone.record_status(runtime, provider_id, status, error_code, now, page_key=page)
    return StatusCallbackResult(outcome=update.outcome, alert_id=update.alert_id)
