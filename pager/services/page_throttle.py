"""The per-address throttle's reads: at most THROTTLE_PER_MINUTE pages to one address per rolling
minute, and one voice call to a number at a time. Pages over it wait; they are never dropped.

Each read runs in the claiming transaction, on every claim. The counts go through the index of
migration 0002 on an address's recent pages, so their cost follows what they find, not how many
pages were ever sent or are held back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from pager.db.tables import OutboxMessage

THROTTLE_PER_MINUTE = 20  # pages to one address per rolling minute; the rest wait, never dropped
THROTTLE_WINDOW = timedelta(minutes=1)
THROTTLED = f"more than {THROTTLE_PER_MINUTE} pages to this address in the last minute"
_COUNTED = ("sending", "sent", "delivered", "unknown")  # attempts that count against the throttle
_IN_FLIGHT = ("sending", "unknown")


def recent_counts(session: Session, now: datetime, addresses: set[str], exclude: set[int]) -> dict[str, int]:
    """Pages to each of `addresses` in the minute before `now`, not counting the rows in `exclude`."""
    query = (
        select(OutboxMessage.address, func.count())
        .where(
            col(OutboxMessage.address).in_(addresses),
            col(OutboxMessage.last_attempt_at) > now - THROTTLE_WINDOW,
            col(OutboxMessage.status).in_(_COUNTED),
            col(OutboxMessage.id).not_in(exclude),
        )
        .group_by(col(OutboxMessage.address))
    )
    return {address: int(count) for address, count in session.exec(query)}


def window_frees(session: Session, now: datetime, address: str) -> datetime:
    """When the oldest page to `address` inside the rolling minute leaves it, freeing a slot."""
    query = select(func.min(OutboxMessage.last_attempt_at)).where(
        OutboxMessage.address == address,
        col(OutboxMessage.last_attempt_at) > now - THROTTLE_WINDOW,
        col(OutboxMessage.status).in_(_COUNTED),
    )
    oldest = session.exec(query).one()  # the column's type applies to min(): an aware instant
    return (now if oldest is None else oldest) + THROTTLE_WINDOW


def voice_in_flight(session: Session, exclude: set[int]) -> set[str]:
    """Numbers with a call in flight (or of unknown outcome), not counting the rows in `exclude`."""
    query = select(OutboxMessage.address).where(
        OutboxMessage.method == "voice",
        col(OutboxMessage.status).in_(_IN_FLIGHT),
        col(OutboxMessage.id).not_in(exclude),
    )
    return set(session.exec(query))
