"""Action items (docs/incidents.md, "Action items"): follow-up work from an incident, each with an
owner, a due date (in the owner's zone) and a status; added, listed, done, each on the incident's
timeline. Each function runs in the caller's transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from pager.core.action_items import is_overdue, overdue_before, owner_cause_prefix, owner_zone
from pager.core.localtime import format_instant
from pager.db.action_items import (
    action_items_with_owners,
    insert_action_item,
    item_titled,
    lock_action_item,
)
from pager.db.incident_tables import ActionItem, Incident
from pager.db.incident_timeline import add_incident_event
from pager.db.tables import User
from pager.db.users import find_user_by_handle
from pager.services.errors import Conflict, InvalidInput, NotFound
from pager.services.incidents.postmortems import refresh_postmortem_action_items, require_incident
from pager.services.people.direct_pages import cancel_direct_pages

MAX_TITLE = 300
MAX_LINK = 2000
_LINK_RE = re.compile(r"^https?://[^\s/$.?#\x00-\x1f\x7f][^\s\x00-\x1f\x7f]*$", re.IGNORECASE)


@dataclass(frozen=True)
class ActionItemView:
    """An action item as lists and the API show it."""

    id: int
    incident_id: int
    incident_number: int
    title: str
    owner: str
    due_on: date
    status: str
    overdue: bool
    drill: bool
    link: str | None
    created_by: str
    created_at: datetime
    done_at: datetime | None

    def document(self) -> dict[str, Any]:
        """The item as JSON (docs/incidents.md, "Action items")."""
        return {
            "id": self.id,
            "incident_id": self.incident_id,
            "incident_number": self.incident_number,
            "title": self.title,
            "owner": self.owner,
            "due_on": self.due_on.isoformat(),
            "status": self.status,
            "overdue": self.overdue,
            "drill": self.drill,
            "link": self.link,
            "created_by": self.created_by,
            "created_at": format_instant(self.created_at),
            "done_at": format_instant(self.done_at) if self.done_at else None,
        }


def view_of(item: ActionItem, owner: User, incident: Incident, now: datetime) -> ActionItemView:
    """The item as shown at `now` (overdue: open and due before today in the owner's zone)."""
    return ActionItemView(
        id=item.id or 0,
        incident_id=incident.id or 0,
        incident_number=incident.number,
        title=item.title,
        owner=owner.handle,
        due_on=item.due_on,
        status=item.status,
        overdue=is_overdue(item.due_on, item.status, now, owner_zone(owner.time_zone)),
        drill=incident.drill,
        link=item.link,
        created_by=item.created_by,
        created_at=item.created_at,
        done_at=item.done_at,
    )


def parse_due_date(text: str | date) -> date:
    """`YYYY-MM-DD` as a date, or InvalidInput naming the text."""
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"due date {text!r} is not a date: use YYYY-MM-DD, e.g. 2026-03-09") from None


def check_title(title: str) -> str:
    """The title, stripped, or InvalidInput."""
    cleaned = " ".join(title.split())
    if not cleaned:
        raise InvalidInput("an action item needs a title")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in cleaned):
        raise InvalidInput("the title holds a control character")
    if len(cleaned) > MAX_TITLE:
        raise InvalidInput(f"the title is {len(cleaned)} characters; at most {MAX_TITLE}")
    return cleaned


def check_link(link: str | None) -> str | None:
    """An http(s) URL, or None; InvalidInput for anything else."""
    if link is None or not link.strip():
        return None
    value = link.strip()
    if len(value) > MAX_LINK or not _LINK_RE.match(value):
        raise InvalidInput(f"link {link!r} is not an http(s) URL of at most {MAX_LINK} characters")
    return value


def add_action_item(
    session: Session,
    incident_id: int,
    *,
    title: str,
    owner: str,
    due: str | date,
    link: str | None = None,
    by: str,
    now: datetime,
) -> ActionItemView:
    """Add an open action item to the incident. Unknown incident (NotFound), unknown or deactivated
    owner, bad date, empty title or bad link (InvalidInput), a title the incident has already
    (Conflict): nothing is changed."""
    cleaned = check_title(title)
    due_on = parse_due_date(due)
    checked_link = check_link(link)
    incident = require_incident(session, incident_id)
    person = find_user_by_handle(session, owner.strip())
    if person is None or person.id is None:
        raise InvalidInput(f"owner {owner!r}: no such user")
    if person.deactivated_at is not None:
        raise InvalidInput(f"owner {owner!r} is deactivated")
    duplicate = item_titled(session, incident_id, cleaned)
    item = None
    if duplicate is None:
        item = insert_action_item(
            session,
            incident_id=incident_id,
            title=cleaned,
            owner_user_id=person.id,
            due_on=due_on,
            link=checked_link,
            created_by=by,
            now=now,
        )
    if item is None:
        raise Conflict(f"incident {incident_id} already has an action item titled {cleaned!r}")
    add_incident_event(
        session,
        incident_id,
        now,
        "action_item_added",
        by,
        f"action item #{item.id} {cleaned!r} for {person.handle}, due {due_on.isoformat()}",
        {"action_item_id": item.id, "owner": person.handle, "due_on": due_on.isoformat()},
    )
    refresh_postmortem_action_items(session, incident_id, now)
    return view_of(item, person, incident, now)


def list_action_items(
    session: Session,
    now: datetime,
    *,
    overdue: bool = False,
    include_done: bool = False,
    drill: bool = False,
    incident_id: int | None = None,
) -> list[ActionItemView]:
    """Open action items by due date (`include_done`: done ones too); `overdue`: only those open
    and due before today in their owner's zone. Drills' items only when `drill` is asked."""
    if incident_id is not None:
        require_incident(session, incident_id)
    rows = action_items_with_owners(
        session,
        open_only=not include_done or overdue,
        include_drills=drill,
        incident_id=incident_id,
        due_before=overdue_before(now) if overdue else None,
    )
    views = [view_of(item, owner, incident, now) for item, owner, incident in rows]
    return [view for view in views if view.overdue] if overdue else views


def complete_action_item(session: Session, item_id: int, *, by: str, now: datetime) -> ActionItemView:
    """Mark the item done (idempotent: done again changes nothing). When its owner has nothing else
    overdue, their reminder pages not sent yet are cancelled."""
    item = lock_action_item(session, item_id)
    if item is None:
        raise NotFound(f"no action item {item_id}")
    if item.status != "done":
        item.status = "done"
        item.done_at = now
        session.add(item)
        add_incident_event(
            session,
            item.incident_id,
            now,
            "action_item_done",
            by,
            f"action item #{item.id} {item.title!r} done",
            {"action_item_id": item.id},
        )
        refresh_postmortem_action_items(session, item.incident_id, now)
        still_overdue = [
            row
            for row in action_items_with_owners(
                session,
                open_only=True,
                include_drills=True,
                owner_user_id=item.owner_user_id,
                due_before=overdue_before(now),
            )
            if is_overdue(row[0].due_on, row[0].status, now, owner_zone(row[1].time_zone))
        ]
        if not still_overdue:
            cancel_direct_pages(session, owner_cause_prefix(item.owner_user_id), now)
    owner = session.get(User, item.owner_user_id)
    assert owner is not None
    return view_of(item, owner, require_incident(session, item.incident_id), now)
