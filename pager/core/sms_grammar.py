"""The reply grammar of SMS acknowledgements, as a pure function.

The grammar is in docs/phone-and-email.md, "Replying to an SMS".

Accepted, case-insensitive, with any surrounding whitespace or punctuation (`42a.`, `"ACK 42!"`):

- `<id><verb>`, `<id> <verb>`, `<verb> <id>`, `<verb><id>`: act on alert `<id>`;
- `<verb>` alone, or the digit `4` (ack), `6` (resolve), `5` (escalate) alone: act on the one
  open alert paged to the sender's number (the caller decides which, or lists them);
- `snooze <id> <minutes>`: snooze alert `<id>` that long; `snooze <minutes>`: the one open alert
  (the caller checks the minutes are within bounds).

Verbs: `a`, `ack`, `acknowledge`; `r`, `res`, `resolve`; `e`, `esc`, `escalate`. Ids are ASCII
digits, 1 to 12 of them, not zero. Everything else (two verbs, two ids, trailing words, emoji...) is
`Help`: a wrong guess could resolve someone else's alert, so the parser never guesses.
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from typing import Literal

Action = Literal["ack", "resolve", "escalate", "snooze"]

VERBS: dict[str, Action] = {
    "a": "ack",
    "ack": "ack",
    "acknowledge": "ack",
    "r": "resolve",
    "res": "resolve",
    "resolve": "resolve",
    "e": "escalate",
    "esc": "escalate",
    "escalate": "escalate",
}
# Phone keypad digits, the same keys the voice call asks for.
KEYS: dict[str, Action] = {"4": "ack", "6": "resolve", "5": "escalate", "7": "snooze"}
# Key 7 on a call snoozes for this long; by SMS the minutes are written out.
KEY_SNOOZE_MINUTES = 30
MAX_ID_DIGITS = 12
# Longer than any accepted reply with room to spare; longer input is help without being scanned.
MAX_INPUT = 200

HELP_TEXT = (
    "Reply 42a to ack alert 42, 42r to resolve, 42e to escalate, snooze 42 30 to snooze 30 min. "
    "a, r, e, snooze 30 (or 4, 6, 5) act on your one open alert."
)

_VERB = "|".join(sorted(VERBS, key=len, reverse=True))
_ID = rf"[0-9]{{1,{MAX_ID_DIGITS}}}"
_FORMS = (
    re.compile(rf"(?P<id>{_ID}) ?(?P<verb>{_VERB})", re.ASCII),
    re.compile(rf"(?P<verb>{_VERB}) ?(?P<id>{_ID})", re.ASCII),
    re.compile(rf"(?P<verb>{_VERB})", re.ASCII),
)
_SNOOZE = re.compile(rf"snooze (?:(?P<id>{_ID}) )?(?P<minutes>[0-9]{{1,5}})", re.ASCII)


@dataclass(frozen=True)
class Command:
    """Do `action` to alert `alert_id`; None means the one open alert paged to the sender.

    `minutes`: how long a snooze lasts (set exactly for `snooze`).
    """

    action: Action
    alert_id: int | None = None
    minutes: int | None = None


@dataclass(frozen=True)
class Help:
    """The text is not a command: answer with HELP_TEXT."""


Reply = Command | Help


def _is_edge(char: str) -> bool:
    return char.isspace() or char in string.punctuation or unicodedata.category(char).startswith("P")


def _trim(text: str) -> str:
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        start += 1
    while end > start and _is_edge(text[end - 1]):
        end -= 1
    return text[start:end]


def parse_reply(text: str) -> Reply:
    """What an inbound SMS asks for: a Command, or Help when it matches no form of the grammar."""
    if len(text) > MAX_INPUT:
        return Help()
    # Any run of whitespace (tabs, newlines, the no-break space some phones insert) is one space.
    core = " ".join(_trim(text).lower().split())
    if core in KEYS and KEYS[core] != "snooze":  # 7 alone is a key press on a call, not a reply
        return Command(KEYS[core])
    snooze = _SNOOZE.fullmatch(core)
    if snooze is not None:
        raw_id = snooze["id"]
        if raw_id is not None and int(raw_id) == 0:
            return Help()
        return Command("snooze", int(raw_id) if raw_id else None, int(snooze["minutes"]))
    for form in _FORMS:
        match = form.fullmatch(core)
        if match is None:
            continue
        action = VERBS[match["verb"]]
        raw_id = match.groupdict().get("id")
        if raw_id is None:
            return Command(action)
        alert_id = int(raw_id)
        return Command(action, alert_id) if alert_id > 0 else Help()
    return Help()
