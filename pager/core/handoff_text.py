"""The words of a handoff message and of a shift reminder, by SMS, voice or email.

See docs/schedules.md, "Handoff messages and shift reminders". An SMS may take up to
SMS_SEGMENTS concatenated segments (the note and the alert list are shortened to fit); a call says
the same in sentences; an email has everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pager.core.localtime import require_aware, zone
from pager.core.model import Role
from pager.core.page_text import PageText, gsm7_length, to_gsm7

# Concatenated SMS segments carry 153 GSM-7 characters each.
SMS_SEGMENTS = 2
SMS_HANDOFF_LIMIT = 153 * SMS_SEGMENTS
# How many open alerts a message names (the count covers all of them).
ALERTS_NAMED = 3
_SUMMARY_CHARS = 40

MessageMethod = Literal["sms", "voice", "email"]


@dataclass(frozen=True)
class OpenAlert:
    """An open alert as a handoff message names it."""

    id: int
    service_id: str
    summary: str


@dataclass(frozen=True)
class HandoffMessage:
    """Everything a handoff message or reminder says. `ends_at` None: not within ~35 days.

    `open_alerts` are the first ALERTS_NAMED of `open_alert_count`. `open_incidents` is None while
    pager keeps no incidents (the message then says nothing about them, rather than "none").
    """

    schedule_id: str
    schedule_name: str
    time_zone: str
    role: Role
    incoming: str
    outgoing: str | None
    starts_at: datetime
    ends_at: datetime | None
    open_alert_count: int = 0
    open_alerts: tuple[OpenAlert, ...] = ()
    open_incidents: tuple[str, ...] | None = None
    note: str | None = None


def local_time(instant: datetime, time_zone: str) -> str:
    """`Fri Dec 11 09:00 CST (15:00Z)`: the schedule's wall time, then UTC."""
    local = require_aware(instant).astimezone(zone(time_zone))
    utc = require_aware(instant).strftime("%H:%MZ")
    return f"{local.strftime('%a %b %d %H:%M')} {local.tzname()} ({utc})"


def _named(message: HandoffMessage) -> str:
    """`Checkout primary (checkout)`, or just the id when the schedule has no name of its own."""
    if message.schedule_name == message.schedule_id:
        return message.schedule_id
    return f"{message.schedule_name} ({message.schedule_id})"


def _until(message: HandoffMessage) -> str:
    if message.ends_at is None:
        return "for more than a month"
    return f"until {local_time(message.ends_at, message.time_zone)}"


def _alerts_sentence(message: HandoffMessage, *, short: bool) -> str:
    if message.open_alert_count == 0:
        return "No open alerts."
    named = []
    for alert in message.open_alerts:
        summary = " ".join(alert.summary.split())
        if short and len(summary) > _SUMMARY_CHARS:
            summary = summary[: _SUMMARY_CHARS - 3].rstrip() + "..."
        named.append(f"#{alert.id} {alert.service_id}: {summary}")
    more = message.open_alert_count - len(named)
    tail = f"; and {more} more" if more > 0 else ""
    return f"{message.open_alert_count} open alert(s): " + "; ".join(named) + tail + "."


def _incidents_sentence(message: HandoffMessage) -> str | None:
    # Incidents are not kept yet: None says nothing at all. When they are, the loader fills the
    # tuple and the message names them (an empty tuple: "No open incidents.").
    if message.open_incidents is None:
        return None
    if not message.open_incidents:
        return "No open incidents."
    return f"{len(message.open_incidents)} open incident(s): " + "; ".join(message.open_incidents) + "."


def _note_sentence(message: HandoffMessage) -> str | None:
    if not message.note:
        return None
    who = message.outgoing or "the previous shift"
    return f"Note from {who}: {' '.join(message.note.split())}"


def handoff_text(method: MessageMethod, message: HandoffMessage) -> PageText:
    """What the incoming person is told when their shift starts."""
    role = message.role
    head = f"You are now {role} on call for {_named(message)} {_until(message)}."
    if message.outgoing:
        head += f" Taking over from {message.outgoing}."
    sentences = [head, _alerts_sentence(message, short=method != "email")]
    sentences += [s for s in (_incidents_sentence(message), _note_sentence(message)) if s]
    if method == "sms":
        return PageText("", _fit_sms(sentences))
    if method == "voice":
        return PageText("", "Pager handoff. " + " ".join(sentences).replace("#", "alert "))
    subject = f"[pager] On call: {message.schedule_name} {role} {_until(message)}"
    return PageText(subject, "\n\n".join(sentences))


def reminder_text(method: MessageMethod, message: HandoffMessage) -> PageText:
    """What a person is told `remind_before` ahead of a shift."""
    start = local_time(message.starts_at, message.time_zone)
    line = (
        f"Reminder: your {message.role} on-call shift for {_named(message)} "
        f"starts {start}, {_until(message)}."
    )
    if message.outgoing:
        line += f" You take over from {message.outgoing}."
    if method == "sms":
        return PageText("", _fit_sms([line]))
    if method == "voice":
        return PageText("", "Pager reminder. " + line)
    return PageText(f"[pager] Shift reminder: {message.schedule_name} {message.role} from {start}", line)


def _fit_sms(sentences: Sequence[str]) -> str:
    """Sentences in GSM-7, cut to SMS_HANDOFF_LIMIT septets (the first sentence is always whole)."""
    text = to_gsm7(" ".join(sentences))
    if gsm7_length(text) <= SMS_HANDOFF_LIMIT:
        return text
    kept, budget = [], SMS_HANDOFF_LIMIT - 3
    for char in text:
        budget -= gsm7_length(char)
        if budget < 0:
            break
        kept.append(char)
    return "".join(kept).rstrip() + "..."
