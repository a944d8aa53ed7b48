"""Acknowledging by phone (docs/phone-and-email.md); email links are in link_actions.

- Inbound SMS: the reply grammar (pager.core.sms_grammar) says what is asked; the sender's number
  says who asks. Only a person who was paged for an alert may act on it: someone with a page to them
  attempted for that alert (an outbox row of theirs that got as far as a provider call). Anyone else
  is refused and nothing changes.
- Voice: the call says the alert and gathers one key, 4 ack, 6 resolve, 5 escalate.
- Replays: a signed Twilio request can be posted again (by Twilio retrying, or by whoever captured
  it). An inbound SMS acts once per MessageSid and a call acts on one key press per CallSid: the
  key is inserted in `handled_provider_requests` first, in the transaction that acts, and a
  request whose key is already there changes nothing (kept 30 days, then pruned by the worker's
  housekeeping job, pager.services.operations.housekeeping).
- Twilio status callbacks mark pages delivered or failed; a failure falls back to the person's next
  method through the engine, exactly as a failed send does (pager.services.delivery.outcomes.fall_back).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlmodel import Session

from pager.core.alert import DeliveryFailed
from pager.core.page_text import SMS_LIMIT, gsm7_length, to_gsm7, voice_text
from pager.core.sms_grammar import HELP_TEXT, KEYS, Action, Command, parse_reply
from pager.db.alerts import open_alerts_paged_to
from pager.db.outbox import first_paged_user
from pager.db.provider_requests import claim_request
from pager.db.session import session_scope
from pager.db.tables import Alert, Service
from pager.db.users import phone_number_owners
from pager.services.alerting.alerts import act_in_transaction, wake_worker
from pager.services.alerting.paging import AlertTransaction
from pager.services.delivery.outcomes import fall_back
from pager.services.delivery.reports import reported_page
from pager.services.errors import InvalidInput
from pager.services.runtime import Runtime

log = logging.getLogger("pager.phone")

NOT_REGISTERED = "This number is not set up in pager, so it cannot act on alerts."
NO_OPEN_ALERTS = "You have no open alerts."
_DONE: dict[Action, str] = {"ack": "acknowledged", "resolve": "resolved", "escalate": "escalated"}
# Twilio's MessageStatus / CallStatus values that end a page one way or the other; others are progress.
DELIVERED_STATUSES = frozenset({"delivered", "completed"})
FAILED_STATUSES = frozenset({"failed", "undelivered", "busy", "no-answer", "canceled"})
_FINAL_ROW_STATUSES = ("delivered", "failed", "cancelled")
MAX_PROVIDER_ID = 64  # Twilio's sids are 34 characters
ALREADY_HANDLED = "This key press was already handled. Goodbye."


def not_paged(alert_id: int) -> str:
    """The refusal for someone who was not paged for `alert_id` (also for an alert that doesn't exist)."""
    return f"You were not paged for alert {alert_id}."


# --- who may act -----------------------------------------------------------------------------------


def _owners(session: Session, number: str) -> dict[int, str]:
    """user id -> handle of the people who have `number` as an SMS or voice contact."""
    return phone_number_owners(session, number.strip())


def _paged_handle(session: Session, alert_id: int, owners: dict[int, str]) -> str | None:
    """The handle (among `owners`) of someone paged for `alert_id`; None when none of them was."""
    if not owners:
        return None
    user_id = first_paged_user(session, alert_id, list(owners))
    return None if user_id is None else owners[user_id]


def _open_alerts_paged(session: Session, owners: dict[int, str]) -> list[Alert]:
    """Open alerts any of `owners` was paged for, oldest first."""
    return open_alerts_paged_to(session, list(owners))


# --- replies -----------------------------------------------------------------------------------------


def confirmation(alert: Alert, action: Action, outcome: str) -> str:
    """What to tell the person after `act_on_alert` took `action` with `outcome`."""
    if outcome == "already_acknowledged":
        return f"Alert {alert.id} is already acknowledged by {alert.acknowledged_by or 'an integration'}."
    if outcome == "already_resolved":
        who = f" by {alert.resolved_by}" if alert.resolved_by else ""
        return f"Alert {alert.id} is already resolved{who}."
    if outcome == "policy_missing":
        return f"Alert {alert.id} was not changed: its escalation policy is not loaded."
    return f"Alert {alert.id} {_DONE[action]}."


def open_alerts_text(alerts: list[Alert]) -> str:
    """`Open alerts: 42 checkout-api, 43 db. Reply 42a to ack.`, shortened to fit one SMS."""
    first = alerts[0].id
    suffix = f". Reply {first}a to ack."
    entries = [f"{alert.id} {to_gsm7(alert.service_id)}" for alert in alerts]
    for shown in range(len(entries), 0, -1):
        more = f" and {len(entries) - shown} more" if shown < len(entries) else ""
        text = "Open alerts: " + ", ".join(entries[:shown]) + more + suffix
        if gsm7_length(text) <= SMS_LIMIT:
            return text
    return f"{len(entries)} open alerts{suffix}"


def _act(session: Session, runtime: Runtime, alert_id: int, action: Action, by: str, now: datetime) -> str:
    alert, outcome = act_in_transaction(session, runtime, alert_id, action, by=by, now=now)
    log.info("phone_action alert=%d action=%s by=%s outcome=%s", alert_id, action, by, outcome)
    return confirmation(alert, action, outcome)


def _first_time(session: Session, kind: str, provider_id: str, now: datetime) -> bool:
    """Claim `kind:provider_id` in the session's transaction; False when it was handled before."""
    if not provider_id or len(provider_id) > MAX_PROVIDER_ID:
        raise InvalidInput(f"a Twilio id of 1 to {MAX_PROVIDER_ID} characters is required")
    if not claim_request(session, f"{kind}:{provider_id}", now):
        log.warning("provider_request_replayed kind=%s provider_id=%s", kind, provider_id)
        return False
    return True


# --- inbound SMS -------------------------------------------------------------------------------------


def handle_sms(runtime: Runtime, number: str, text: str, now: datetime, *, message_sid: str) -> str | None:
    """Carry out an inbound SMS from `number`; returns the reply to send back.

    None when the message (its `message_sid`) was handled before: a replay changes nothing and gets
    no reply. The claim, the checks and the action share one transaction, so two copies of a message
    arriving at once act once.
    """
    reply = parse_reply(text)
    if not isinstance(reply, Command):
        return HELP_TEXT
    with session_scope(runtime.engine) as session:
        if not _first_time(session, "sms", message_sid, now):
            return None
        owners = _owners(session, number)
        if not owners:
            log.warning("sms_refused reason=unknown_number")
            return NOT_REGISTERED
        target = reply.alert_id
        if target is None:
            open_alerts = _open_alerts_paged(session, owners)
            if not open_alerts:
                return NO_OPEN_ALERTS
            if len(open_alerts) > 1:
                return open_alerts_text(open_alerts)
            target = open_alerts[0].id
            assert target is not None
        by = _paged_handle(session, target, owners)
        if by is None:
            log.warning("sms_refused reason=not_paged alert=%d", target)
            return not_paged(target)
        answer = _act(session, runtime, target, reply.action, by, now)
    if reply.action == "escalate":
        wake_worker(runtime)
    return answer


# --- voice -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VoicePrompt:
    """Say `text`, then ask for a key (4 ack, 6 resolve, 5 escalate)."""

    alert_id: int
    text: str


@dataclass(frozen=True)
class VoiceDone:
    """Say `text` and hang up."""

    text: str


VoiceReply = VoicePrompt | VoiceDone


def _voice_check(session: Session, alert_id: int, number: str) -> tuple[Alert | None, str | None]:
    alert = session.get(Alert, alert_id)
    by = _paged_handle(session, alert_id, _owners(session, number)) if alert is not None else None
    return alert, by


def voice_answer(runtime: Runtime, alert_id: int, number: str) -> VoiceReply:
    """What a call to `number` about `alert_id` says when answered: the alert and the key prompt."""
    with session_scope(runtime.engine, read_only=True) as session:
        alert, by = _voice_check(session, alert_id, number)
        if alert is None or by is None:
            log.warning("voice_refused reason=not_paged alert=%d", alert_id)
            return VoiceDone(not_paged(alert_id) + " Goodbye.")
        service = session.get(Service, alert.service_id)
        name = service.name if service is not None else alert.service_id
        return VoicePrompt(alert_id, voice_text(alert_id, name, alert.summary))


def voice_keypress(
    runtime: Runtime, alert_id: int, number: str, digits: str, now: datetime, *, call_sid: str
) -> VoiceReply:
    """Carry out the key pressed on a call to `number` about `alert_id`; other keys repeat the prompt.

    One key press acts per call (`call_sid`): the call hangs up after it, so another post of an
    acting key for that call is a replay; it changes nothing and hears ALREADY_HANDLED.
    """
    action = KEYS.get(digits.strip())
    if action is None:
        return voice_answer(runtime, alert_id, number)
    with session_scope(runtime.engine) as session:
        if not _first_time(session, "call", call_sid, now):
            return VoiceDone(ALREADY_HANDLED)
        alert, by = _voice_check(session, alert_id, number)
        if alert is None or by is None:
            log.warning("voice_refused reason=not_paged alert=%d", alert_id)
            return VoiceDone(not_paged(alert_id) + " Goodbye.")
        answer = _act(session, runtime, alert_id, action, by, now)
    if action == "escalate":
        wake_worker(runtime)
    return VoiceDone(answer + " Goodbye.")


# --- delivery status callbacks -----------------------------------------------------------------------

StatusOutcome = Literal["delivered", "failed", "progress", "already_final", "unknown_page"]


@dataclass(frozen=True)
class StatusUpdate:
    """What a status callback did to the page with that provider id."""

    outcome: StatusOutcome
    alert_id: int | None = None


def record_status(
    runtime: Runtime,
    provider_id: str,
    status: str,
    error_code: str | None,
    now: datetime,
    *,
    page_key: str | None = None,
) -> StatusUpdate:
    """Mark the page Twilio calls `provider_id` delivered or failed; a failure falls back at once.

    `page_key` (the callback URL's `page`) finds a page whose send is not recorded yet; the report
    settles it all the same (see delivery_reports).
    """
    status = status.strip().lower()
    with session_scope(runtime.engine) as session:
        row = reported_page(session, provider_id, page_key)
        if row is None:
            log.warning("status_for_unknown_page provider_id=%s status=%s", provider_id, status)
            return StatusUpdate("unknown_page")
        if status not in DELIVERED_STATUSES | FAILED_STATUSES:
            return StatusUpdate("progress", row.alert_id)
        if row.status in _FINAL_ROW_STATUSES:
            return StatusUpdate("already_final", row.alert_id)
        work = AlertTransaction(session, runtime, now)
        what = f"{row.method} to {row.user_handle}"
        row.updated_at = now
        if row.provider_id is None:  # the report came before the send's outcome was recorded
            row.provider_id = provider_id
        if status in DELIVERED_STATUSES:
            row.status = "delivered"
            session.add(row)
            work.timeline(row.alert_id, "page_delivered", f"{what} delivered ({provider_id})")
            return StatusUpdate("delivered", row.alert_id)
        row.status = "failed"
        row.last_error = status + (f" (Twilio error {error_code})" if error_code else "")
        session.add(row)
        work.timeline(row.alert_id, "page_failed", f"{what} failed: {row.last_error}")
        coordinates = (row.cycle, row.loop, row.level, row.step)
        failed = DeliveryFailed(row.user_handle, row.method, *coordinates, row.last_error)
        fall_back(session, work, row.alert_id, failed)
        return StatusUpdate("failed", row.alert_id)
