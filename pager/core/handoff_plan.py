"""The decide step of the handoff job: the due messages of one schedule, turned into texts for addresses.

Pure: `pager.core.handoffs.due_messages` says which messages are due; this says what each says and
where it goes, given plain values the service loaded (each person's first notification rule, the
open alerts, the notes). See docs/schedules.md, "Handoff messages and shift reminders".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pager.core.handoff_text import HandoffMessage, MessageMethod, OpenAlert, handoff_text, reminder_text
from pager.core.handoffs import DueMessage
from pager.core.model import Role, Schedule


@dataclass(frozen=True)
class Reach:
    """Where a person's messages go: the method and address of their first notification rule."""

    user_id: int
    method: MessageMethod
    address: str


@dataclass(frozen=True)
class Note:
    """The outgoing person's note for the next handoff of a role, written at `written_at`."""

    id: int
    text: str
    written_at: datetime


@dataclass(frozen=True)
class ScheduleNews:
    """What a schedule's handoff messages tell besides who and when.

    `open_incidents` stays None while pager keeps no incidents (see HandoffMessage).
    """

    open_alert_count: int = 0
    open_alerts: tuple[OpenAlert, ...] = ()
    notes: Mapping[Role, Note] | None = None
    open_incidents: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ComposedMessage:
    """One message ready for the outbox: `key` makes a second insert of it a no-op."""

    key: str
    due: DueMessage
    user_id: int
    method: MessageMethod
    address: str
    subject: str
    body: str
    note_id: int | None = None  # the note it carries, used up when the message is queued


@dataclass(frozen=True)
class ComposedPlan:
    """The messages to queue, the people who could not be reached, the notes used up (by id)."""

    messages: tuple[ComposedMessage, ...]
    unreachable: tuple[DueMessage, ...]
    notes_sent: tuple[int, ...]


def compose(
    schedule: Schedule,
    due: Sequence[DueMessage],
    reach: Mapping[str, Reach | None],
    news: ScheduleNews,
) -> ComposedPlan:
    """The texts of `due` for the people's first rule's method.

    A role's note goes into the first handoff message of that role whose shift starts at or after
    the note was written, and is then used up; a person with no way to reach them gets nothing
    (and keeps no note from the next person).
    """
    notes = dict(news.notes or {})
    messages: list[ComposedMessage] = []
    unreachable: list[DueMessage] = []
    used: list[int] = []
    for item in due:
        target = reach.get(item.user)
        if target is None:
            unreachable.append(item)
            continue
        note = notes.get(item.role) if item.kind == "handoff" else None
        if note is not None and note.written_at > item.shift_start:
            note = None
        message = HandoffMessage(
            schedule_id=schedule.id,
            schedule_name=schedule.name,
            time_zone=schedule.time_zone,
            role=item.role,
            incoming=item.user,
            outgoing=item.outgoing,
            starts_at=item.shift_start,
            ends_at=item.shift_end,
            open_alert_count=news.open_alert_count,
            open_alerts=news.open_alerts,
            open_incidents=news.open_incidents,
            note=None if note is None else note.text,
        )
        text = (handoff_text if item.kind == "handoff" else reminder_text)(target.method, message)
        messages.append(
            ComposedMessage(
                item.key,
                item,
                target.user_id,
                target.method,
                target.address,
                text.subject,
                text.body,
                None if note is None else note.id,
            )
        )
        if note is not None:
            used.append(note.id)
            del notes[item.role]
    return ComposedPlan(tuple(messages), tuple(unreachable), tuple(used))
