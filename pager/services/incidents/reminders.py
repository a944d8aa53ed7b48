"""The worker's incident reminders (docs/incidents.md): the commander of an incident whose postmortem
is past due and unpublished, and each owner of overdue action items once a local day. Both page the
person through their own rules at low urgency (email first, the phone an hour later unless the
cause ended meanwhile), as notices whose cause key makes a decision taken twice send once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session

from pager.core.action_items import OpenItem, overdue_before, reminders_due
from pager.core.localtime import format_instant
from pager.db.action_items import action_items_with_owners, outbox_keys_present
from pager.db.incident_tables import Incident
from pager.db.incident_timeline import add_incident_event
from pager.db.postmortems import unpublished_postmortems_due
from pager.db.session import session_scope
from pager.db.users import find_user_by_handle
from pager.services.incidents.postmortem_facts import current_commander
from pager.services.people.direct_pages import page_person
from pager.services.runtime import Runtime

log = logging.getLogger("pager.incidents")

POSTMORTEM_REMINDER_EVERY = timedelta(minutes=1)
ACTION_ITEM_REMINDER_EVERY = timedelta(minutes=5)
LOW_URGENCY = timedelta(hours=1)  # the phone steps wait this long after the email


def postmortem_reminder_key(postmortem_id: int) -> str:
    """`postmortem:<id>:due` (publishing cancels `postmortem:<id>`)."""
    return f"postmortem:{postmortem_id}:due"


def postmortem_owner(session: Session, incident: Incident) -> str | None:
    """Who is reminded of the postmortem: the commander now, else whoever declared the incident if
    that is a person (not a token or a rule); None when neither."""
    assert incident.id is not None
    commander = current_commander(session, incident.id)
    if commander is not None:
        return commander.handle
    declared_by = find_user_by_handle(session, incident.declared_by)
    return declared_by.handle if declared_by is not None else None


def remind_postmortems_in(session: Session, now: datetime) -> int:
    """Page the owner of each unpublished postmortem due by `now` (once each); returns how many."""
    due = unpublished_postmortems_due(session, now)
    sent_before = outbox_keys_present(session, [f"{postmortem_reminder_key(p.id or 0)}:0" for p, _ in due])
    reminded = 0
    for postmortem, incident in due:
        key = postmortem_reminder_key(postmortem.id or 0)
        if f"{key}:0" in sent_before:
            continue
        handle = postmortem_owner(session, incident)
        if handle is None:
            log.warning("postmortem_reminder_nobody incident=%s postmortem=%s", incident.id, postmortem.id)
            continue
        subject = f"Postmortem of incident {incident.number} is overdue"
        text = (
            f"{subject}: {incident.title!r} was due {format_instant(postmortem.due_at)} and is "
            f"{postmortem.status}. Publish it with `pager postmortem publish {incident.id}`."
        )
        queued = page_person(
            session, handle, key, text, now, subject=subject, drill=incident.drill, low_urgency=LOW_URGENCY
        )
        if queued:
            reminded += 1
            add_incident_event(
                session,
                incident.id or 0,
                now,
                "postmortem_reminder",
                "system",
                f"postmortem overdue: {handle} reminded ({', '.join(n.method for n in queued)})",
                {"postmortem_id": postmortem.id, "handle": handle},
            )
    return reminded


def remind_postmortems_due(runtime: Runtime, now: datetime) -> int:
    """The worker's job: one transaction of `remind_postmortems_in`; wakes delivery when it paged."""
    with session_scope(runtime.engine) as session:
        reminded = remind_postmortems_in(session, now)
    if reminded:
        runtime.waker.wake("delivery")
    return reminded


def remind_action_item_owners_in(session: Session, now: datetime) -> int:
    """Page each owner of overdue action items who is due today's reminder (core.action_items.
    reminders_due: in their daytime, once per local day); returns how many were paged."""
    rows = action_items_with_owners(
        session, open_only=True, include_drills=True, due_before=overdue_before(now)
    )
    items = [
        OpenItem(
            id=item.id or 0,
            incident_id=incident.id or 0,
            incident_number=incident.number,
            title=item.title,
            owner_user_id=owner.id or 0,
            owner_handle=owner.handle,
            owner_time_zone=owner.time_zone,
            due_on=item.due_on,
            drill=incident.drill,
        )
        for item, owner, incident in rows
        if owner.deactivated_at is None
    ]
    reminders = reminders_due(items, now)
    sent_before = outbox_keys_present(session, [f"{r.cause_key}:0" for r in reminders])
    reminded = 0
    for reminder in reminders:
        if f"{reminder.cause_key}:0" in sent_before:
            continue
        subject, text = reminder.text()
        queued = page_person(
            session,
            reminder.owner_handle,
            reminder.cause_key,
            text,
            now,
            subject=subject,
            drill=reminder.drill,
            low_urgency=LOW_URGENCY,
        )
        if not queued:
            continue
        reminded += 1
        for incident_id in sorted({item.incident_id for item in reminder.items}):
            numbers = [f"#{item.id}" for item in reminder.items if item.incident_id == incident_id]
            add_incident_event(
                session,
                incident_id,
                now,
                "action_item_reminder",
                "system",
                f"{reminder.owner_handle} reminded of overdue action item(s) {', '.join(numbers)}",
                {"owner": reminder.owner_handle, "day": reminder.day.isoformat()},
            )
    return reminded


def remind_action_item_owners(runtime: Runtime, now: datetime) -> int:
    """The worker's job: one transaction of `remind_action_item_owners_in`; wakes delivery."""
    with session_scope(runtime.engine) as session:
        reminded = remind_action_item_owners_in(session, now)
    if reminded:
        runtime.waker.wake("delivery")
    return reminded
