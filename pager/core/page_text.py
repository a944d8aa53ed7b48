"""The words of a page: SMS (one GSM-7 segment), the voice prompt, the email.

See docs/phone-and-email.md, "What a page says".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

SMS_LIMIT = 160
_GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€")  # each costs two septets
_SEPTETS = {char: 1 for char in _GSM7_BASIC} | {char: 2 for char in _GSM7_EXTENDED}
_NOT_GSM7 = re.compile("[^" + re.escape("".join(sorted(_SEPTETS))) + "]")
_TWO_SEPTETS = re.compile("[" + re.escape("".join(sorted(_GSM7_EXTENDED))) + "]")
_ELLIPSIS = "..."


def gsm7_length(text: str) -> int:
    """Septets `text` takes in GSM-7; raises ValueError for a character GSM-7 cannot carry."""
    try:
        return sum(map(_SEPTETS.__getitem__, text))
    except KeyError as missing:
        raise ValueError(f"{missing.args[0]!r} is not a GSM-7 character") from None


def to_gsm7(text: str) -> str:
    """`text` with whitespace runs folded to one space and non-GSM-7 characters replaced by `?`.

    One stray emoji would otherwise switch the whole SMS to UCS-2 and cut its capacity to 70.
    """
    folded = " ".join(text.split())
    if folded.isascii() and folded.isprintable() and "`" not in folded:
        return folded  # printable ASCII but the backtick is all GSM-7: nothing to replace
    return _NOT_GSM7.sub("?", folded)


def _septets(clean: str) -> int:
    # `gsm7_length` of a text already made of GSM-7 characters (to_gsm7's output, digits, ASCII
    # letters), counted in C: every page's text is measured several times.
    return len(clean) + len(_TWO_SEPTETS.findall(clean))


def _fit(prefix: str, middle: str, suffix: str, limit: int) -> str:
    room = limit - _septets(prefix) - _septets(suffix)
    if _septets(middle) <= room:
        return prefix + middle + suffix
    kept = ""
    budget = room - len(_ELLIPSIS)
    for char in middle:
        cost = gsm7_length(char)
        if cost > budget:
            break
        kept += char
        budget -= cost
    return prefix + kept.rstrip() + _ELLIPSIS + suffix


def sms_text(alert_id: int, service_id: str, summary: str) -> str:
    """`ALERT 42 checkout-api: <summary>. Reply 42a ack, 42r resolve, 42e escalate` in <= 160 GSM-7."""
    reply = f". Reply {alert_id}a ack, {alert_id}r resolve, {alert_id}e escalate"
    prefix = f"ALERT {alert_id} {to_gsm7(service_id)}: "
    middle = to_gsm7(summary).rstrip(".")
    whole = prefix + middle + reply
    if _septets(whole) <= SMS_LIMIT:  # what `_fit` would keep whole, measured once
        return whole
    text = _fit(prefix, middle, reply, SMS_LIMIT)
    if _septets(text) > SMS_LIMIT:  # only a very long service id gets here
        text = _fit("", text, "", SMS_LIMIT)
    return text


def voice_text(alert_id: int, service_name: str, summary: str) -> str:
    """What the call says before the key prompt."""
    return f"Pager alert {alert_id} for {service_name}. {summary.strip().rstrip('.')}."


def email_subject(alert_id: int, service_id: str, summary: str) -> str:
    """One line, at most 120 characters."""
    subject = f"[pager] ALERT {alert_id} {service_id}: {' '.join(summary.split())}"
    return subject if len(subject) <= 120 else subject[:117] + _ELLIPSIS


def email_body(
    alert_id: int, service_name: str, summary: str, runbook: str | None, *, links: bool = True
) -> str:
    """The plain-text body above the one-click links (`links=False`: a page that has none)."""
    lines = [f"Alert {alert_id} for {service_name}:", "", summary.strip(), ""]
    if runbook:
        lines.append(f"Runbook: {runbook}")
    if links:
        lines.append("The links below open a confirmation page; nothing changes until you confirm.")
    else:
        lines.append(f"Acknowledge by replying to the SMS page or with `pager alert ack {alert_id}`.")
    return "\n".join(lines)


@dataclass(frozen=True)
class PageText:
    """The words of one page: `subject` (email only; empty otherwise) and `body`."""

    subject: str
    body: str


def page_text(
    method: Literal["sms", "voice", "email"],
    alert_id: int,
    service_id: str,
    service_name: str,
    summary: str,
    runbook: str | None,
    links: Sequence[tuple[str, str]] | None = None,
) -> PageText:
    """What a page by `method` says. `links` (label, URL) end an email; None: an email without links."""
    if method == "sms":
        return PageText("", sms_text(alert_id, service_id, summary))
    if method == "voice":
        return PageText("", voice_text(alert_id, service_name, summary))
    body = email_body(alert_id, service_name, summary, runbook, links=links is not None)
    if links:
        body = "\n".join([body, "", *(f"{label}: {url}" for label, url in links)])
    return PageText(email_subject(alert_id, service_id, summary), body)
