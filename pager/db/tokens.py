"""API bearer tokens and calendar feed tokens (tables `api_tokens`, `calendar_tokens`), found by the
hash of the token. The caller owns the session and its transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from pager.db.tables import ApiToken, CalendarToken


def find_api_token_by_hash(session: Session, token_hash: str) -> ApiToken | None:
    """The API token row (revoked or not) with this hash, if any."""
    return session.exec(select(ApiToken).where(ApiToken.token_hash == token_hash)).first()


def mark_api_token_used(session: Session, token_id: int, now: datetime) -> None:
    """Set the token's `last_used_at` to `now` (one UPDATE of one row)."""
    session.execute(update(ApiToken).where(col(ApiToken.id) == token_id).values(last_used_at=now))


def api_tokens_in_id_order(session: Session) -> list[ApiToken]:
    """Every API token row, revoked ones included, ordered by id."""
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.id))))


def find_calendar_token_by_hash(session: Session, token_hash: str) -> CalendarToken | None:
    """The calendar token row (revoked or not) with this hash, if any."""
    return session.exec(select(CalendarToken).where(CalendarToken.token_hash == token_hash)).first()


def calendar_tokens_of_user(session: Session, user_id: int | None) -> list[CalendarToken]:
    """Every feed token made for user `user_id`'s feed (revoked ones included), oldest first."""
    query = select(CalendarToken).where(CalendarToken.user_id == user_id).order_by(col(CalendarToken.id))
    return list(session.exec(query))


def calendar_tokens_of_schedule(session: Session, schedule_id: str) -> list[CalendarToken]:
    """Every feed token made for schedule `schedule_id`'s feed (revoked ones included), oldest first."""
    query = (
        select(CalendarToken).where(CalendarToken.schedule_id == schedule_id).order_by(col(CalendarToken.id))
    )
    return list(session.exec(query))
