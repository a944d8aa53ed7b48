"""The outgoing person's handoff note: stored per schedule and role, sent once with the next handoff.

docs/schedules.md, "Handoff notes". The note goes into the next handoff message of that schedule
and role whose shift starts after it was written, and is deleted in the transaction that queues
that message (pager.services.calendars.handoffs). A second note before then replaces the first.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from pager.config.loader import LoadedConfig
from pager.core.model import ROLES
from pager.db import handoffs as stored
from pager.services.calendars.shifts import require_schedule
from pager.services.errors import InvalidInput

MAX_NOTE_CHARS = 1000


def write_handoff_note(
    session: Session, config: LoadedConfig, schedule_id: str, text: str, now: datetime, role: str = "primary"
) -> str:
    """Store `text` for the next handoff of `role` in `schedule_id`; the stored text.

    NotFound for an unknown schedule, InvalidInput for a bad role or an empty or too long note;
    nothing is stored then.
    """
    require_schedule(config, schedule_id)
    if role not in ROLES:
        raise InvalidInput(f"role must be primary or secondary, not {role!r}")
    note = text.strip()
    if not note:
        raise InvalidInput("the note is empty")
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidInput(f"the note is {len(note)} characters long; at most {MAX_NOTE_CHARS}")
    stored.put_note(session, schedule_id, role, note, now)
    return note
