"""Action items (table `action_items`) with their owners and incidents. The caller owns the session."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session, col, func, select

from pager.db.incident_tables import ActionItem, Incident
from pager.db.row_updates import add_unless_taken
from pager.db.tables import OutboxMessage, User

# An action item as lists show it: the row, its owner, its incident.
ItemRow = tuple[ActionItem, User, Incident]


def insert_action_item(
    session: Session,
    *,
    incident_id: int,
    title: str,
    owner_user_id: int,
    due_on: date,
    link: str | None,
    created_by: str,
    now: datetime,
) -> ActionItem | None:
    """Store an open item; None (and nothing changed) when the incident has one of that title."""
    row = ActionItem(
        incident_id=incident_id,
        title=title,
        owner_user_id=owner_user_id,
        due_on=due_on,
        status="open",
        link=link,
        created_by=created_by,
        created_at=now,
    )
    return add_unless_taken(session, row)


def item_titled(session: Session, incident_id: int, title: str) -> ActionItem | None:
    """The incident's item of this title, compared without regard to case."""
    query = select(ActionItem).where(
        ActionItem.incident_id == incident_id, func.lower(ActionItem.title) == title.lower()
    )
    return session.exec(query).first()


def lock_action_item(session: Session, item_id: int) -> ActionItem | None:
    """Item `item_id`, freshly read and locked until commit (None: no such item)."""
    query = (
        select(ActionItem)
        .where(ActionItem.id == item_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(query).first()


def action_items_with_owners(
    session: Session,
    *,
    open_only: bool,
    include_drills: bool,
    incident_id: int | None = None,
    owner_user_id: int | None = None,
    due_before: date | None = None,
) -> list[ItemRow]:
    """Items with owner and incident, by due date then id. `open_only` leaves done ones out;
    drills' items only with `include_drills`; `due_before` keeps items due before that date."""
    query = (
        select(ActionItem, User, Incident)
        .join(User, col(User.id) == col(ActionItem.owner_user_id))
        .join(Incident, col(Incident.id) == col(ActionItem.incident_id))
    )
    if open_only:
        query = query.where(ActionItem.status == "open")
    if not include_drills:
        query = query.where(col(Incident.drill).is_(False))
    if incident_id is not None:
        query = query.where(ActionItem.incident_id == incident_id)
    if owner_user_id is not None:
        query = query.where(ActionItem.owner_user_id == owner_user_id)
    if due_before is not None:
        query = query.where(col(ActionItem.due_on) < due_before)
    query = query.order_by(col(ActionItem.due_on), col(ActionItem.id))
    return [(item, user, incident) for item, user, incident in session.exec(query)]


def outbox_keys_present(session: Session, keys: list[str]) -> set[str]:
    """Which of these outbox idempotency keys are stored (a reminder decided before)."""
    if not keys:
        return set()
    query = select(OutboxMessage.idempotency_key).where(col(OutboxMessage.idempotency_key).in_(keys))
    return set(session.exec(query))
