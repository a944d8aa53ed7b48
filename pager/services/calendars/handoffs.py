"""The worker's handoff job: a message to each incoming person at every handoff, and shift reminders.

docs/schedules.md, "Handoff messages and shift reminders". One transaction per run, per schedule
in the engine's shape, twice over (who and when first, then what the messages say):

1. Load: lock every schedule's cursor (`handoff_cursors`), read its overrides and everyone's
   reminder setting.
2. Decide (pure): `core.handoffs.due_messages` — the handoffs in (cursor - RECHECK, now] and the
   reminders that fell due, stale ones left out.
3. Load: which of those messages are queued already (by key; the RECHECK part was looked at
   before), and for the rest the people's first notification rule, the open alerts of the
   services whose policies page the schedule, and the notes.
4. Decide (pure): `core.handoff_plan.compose` — the texts and addresses.
5. Apply: queue each message as a notice (key: kind, schedule, role, shift start, person; a second
   insert is a no-op), delete the notes newly sent, move the cursors; commit; wake delivery.

Exactly once: the cursor rows stay locked until commit, so two workers never decide one window
at the same time, and the key makes a repeat harmless anyway. A worker that was down sends what it
missed when it is back, but no further back than MAX_CATCH_UP, and not for a shift that has ended.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlmodel import Session

from pager.config.loader import LoadedConfig
from pager.core.escalation import targets_of
from pager.core.handoff_plan import ComposedPlan, Note, Reach, ScheduleNews, compose
from pager.core.handoff_text import ALERTS_NAMED, OpenAlert
from pager.core.handoffs import MAX_CATCH_UP, MAX_REMIND_BEFORE, DueMessage, due_messages
from pager.core.localtime import format_instant
from pager.core.model import Role
from pager.db import handoffs as stored
from pager.db.session import session_scope
from pager.services.calendars.overrides import overrides_for
from pager.services.delivery.notices import Notice, queue_notice
from pager.services.people.users import person
from pager.services.runtime import Runtime

log = logging.getLogger("pager.handoffs")

HANDOFF_CHECK_EVERY = timedelta(seconds=5)
# A cursor with nothing due behind it is moved on at least this often (see handoffs_to_write).
CURSOR_MAX_LAG = timedelta(minutes=5)
# Overrides are read this far past `now`: a shift's end is looked for up to ~35 days ahead.
_OVERRIDES_AHEAD = MAX_REMIND_BEFORE + timedelta(days=36)


def run_handoffs(runtime: Runtime, now: datetime) -> int:
    """Queue the handoff messages and reminders due at `now` in every schedule; how many were new."""
    config = runtime.config
    schedule_ids = sorted(config.schedules)
    if not schedule_ids:
        return 0
    # Every few seconds, and almost always with nothing due: a read decides whether to write at all,
    # so the job takes the writer lock (SQLite) or the cursor rows' locks only when it has to.
    with session_scope(runtime.engine, read_only=True) as session:
        if not handoffs_to_write(session, config, schedule_ids, now):
            return 0
    with session_scope(runtime.engine) as session:
        queued = process_handoffs(session, config, schedule_ids, now)
    if queued:
        runtime.waker.wake("delivery")
    return queued


def handoffs_to_write(session: Session, config: LoadedConfig, schedule_ids: list[str], now: datetime) -> bool:
    """Whether `process_handoffs` at `now` would queue or log anything, or has a cursor to create or
    to move on (one not moved for CURSOR_MAX_LAG: a lagging cursor only widens the window looked at,
    which the queued keys make harmless). A read: nothing is locked."""
    cursors = stored.read_cursors(session, schedule_ids)
    if set(schedule_ids) - set(cursors) or any(now - c.until >= CURSOR_MAX_LAG for c in cursors.values()):
        return True
    remind_before = {handle: timedelta(seconds=s) for handle, s in stored.remind_befores(session).items()}
    for schedule_id in schedule_ids:
        cursor = cursors[schedule_id]
        window_start = min(cursor.until, now) - MAX_CATCH_UP
        overrides = overrides_for(session, schedule_id, window_start, now + _OVERRIDES_AHEAD)
        plan = due_messages(
            config.schedules[schedule_id], overrides, cursor.until, now, remind_before, cursor.since
        )
        if plan.skipped:
            return True
        sent = stored.queued_keys(session, [item.key for item in plan.due])
        if any(item.key not in sent for item in plan.due):
            return True
    return False


def process_handoffs(session: Session, config: LoadedConfig, schedule_ids: list[str], now: datetime) -> int:
    """`run_handoffs` in the caller's transaction: load, decide, apply for each schedule."""
    cursors = stored.lock_cursors(session, schedule_ids, now)
    remind_before = {handle: timedelta(seconds=s) for handle, s in stored.remind_befores(session).items()}
    queued = 0
    for schedule_id in schedule_ids:
        schedule = config.schedules[schedule_id]
        cursor = cursors[schedule_id]
        checked_until = None if cursor.new else cursor.until
        window_start = min(cursor.until, now) - MAX_CATCH_UP
        overrides = overrides_for(session, schedule_id, window_start, now + _OVERRIDES_AHEAD)
        plan = due_messages(schedule, overrides, checked_until, now, remind_before, cursor.since)
        for item in plan.skipped:
            _log_stale(item)
        # Messages of the window's re-checked part may be queued already: those are left out
        # (their notes, too, were used then).
        sent = stored.queued_keys(session, [item.key for item in plan.due])
        due = [item for item in plan.due if item.key not in sent]
        if due:
            news = _news(session, config, schedule_id, now)
            composed = compose(schedule, due, _reach(session, due), news)
            queued += _apply(session, composed, now)
            # Reported once: by the check whose new part of the window the message fell due in.
            for item in composed.unreachable:
                if checked_until is None or item.falls_due > checked_until:
                    _log_unreachable(item)
        if plan.checked_until != cursor.until:
            stored.move_cursor(session, schedule_id, plan.checked_until)
    return queued


def _reach(session: Session, due: list[DueMessage]) -> dict[str, Reach | None]:
    """Each person's first notification rule's method and address (None: no user, or no method)."""
    found: dict[str, Reach | None] = {}
    for handle in {item.user for item in due}:
        who = person(session, handle)
        first = who.steps[0] if who.steps else None
        if who.user_id is None or first is None:
            found[handle] = None
        else:
            found[handle] = Reach(who.user_id, first.rule.method, first.address)
    return found


def _news(session: Session, config: LoadedConfig, schedule_id: str, now: datetime) -> ScheduleNews:
    """Open alerts on the services whose policies page `schedule_id`, and the notes of its roles.

    Incidents are not kept yet: `open_incidents` stays None (services/incidents/ will fill it).
    """
    service_ids = sorted(
        {
            service.id
            for policy in config.policies.values()
            if any(t.kind == "schedule" and t.ref == schedule_id for t in targets_of(policy))
            for service in policy.services
        }
    )
    count, first = stored.open_alerts_of_services(session, service_ids, ALERTS_NAMED)
    notes: Mapping[Role, Note] = {
        role: Note(row.id or 0, row.text, row.written_at)
        for role, row in stored.pending_notes(session, schedule_id).items()
    }
    return ScheduleNews(count, tuple(OpenAlert(*alert) for alert in first), notes)


def _apply(session: Session, composed: ComposedPlan, now: datetime) -> int:
    queued = 0
    for message in composed.messages:
        notice = Notice(
            key=message.key,
            user_id=message.user_id,
            user_handle=message.due.user,
            method=message.method,
            address=message.address,
            body=message.body,
            subject=message.subject,
        )
        new = queue_notice(session, notice, now)
        queued += int(new)
        log.info(
            "%s_queued schedule=%s role=%s user=%s shift_start=%s method=%s new=%s",
            message.due.kind,
            message.due.schedule,
            message.due.role,
            message.due.user,
            format_instant(message.due.shift_start),
            message.method,
            new,
        )
        if new and message.note_id is not None:
            stored.delete_note(session, message.note_id)
    return queued


def _log_unreachable(item: DueMessage) -> None:
    log.warning(
        "%s_unreachable schedule=%s role=%s user=%s shift_start=%s reason=no_contact_method",
        item.kind,
        item.schedule,
        item.role,
        item.user,
        format_instant(item.shift_start),
    )


def _log_stale(item: DueMessage) -> None:
    log.warning(
        "handoff_skipped schedule=%s role=%s user=%s shift_start=%s reason=shift_over",
        item.schedule,
        item.role,
        item.user,
        format_instant(item.shift_start),
    )
