"""API bearer tokens and calendar feed tokens: shown once, stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Literal

from sqlmodel import Session, col, select

from pager.db.tables import ApiToken, CalendarToken
from pager.services.errors import InvalidInput, NotFound

TokenRole = Literal["admin", "responder", "viewer"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "responder": 1, "admin": 2}
_API_PREFIX = "pgr_"
_CALENDAR_PREFIX = "pgc_"


def token_hash(token: str) -> str:
    """SHA-256 of a token: tokens are 256 random bits, so a fast hash is enough (no password stretching)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: Session, *, role: str, name: str, now: datetime) -> tuple[ApiToken, str]:
    """A new API token (row, plaintext); the plaintext exists only in the return value."""
    if role not in ROLE_RANK:
        raise InvalidInput(f"role must be admin, responder or viewer, not {role!r}")
    plaintext = _API_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(token_hash=token_hash(plaintext), role=role, name=name or role, created_at=now)  # type: ignore[arg-type]
    session.add(row)
    session.flush()
    return row, plaintext


def authenticate(session: Session, token: str, now: datetime) -> ApiToken | None:
    """The live token row for a presented bearer token, or None."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == token_hash(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    row.last_used_at = now
    session.add(row)
    return row


def list_api_tokens(session: Session) -> list[ApiToken]:
    """Every API token (hashes are never returned by the API)."""
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.id))))


def revoke_api_token(session: Session, token_id: int, now: datetime) -> ApiToken:
    """Revoke an API token; it stops working at once."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no API token {token_id}")
    row.revoked_at = row.revoked_at or now
    session.add(row)
    session.flush()
    return row


def create_calendar_token(
    session: Session, *, now: datetime, user_id: int | None = None, schedule_id: str | None = None
) -> tuple[CalendarToken, str]:
    """A feed token for one person's or one schedule's calendar (row, plaintext)."""
    if (user_id is None) == (schedule_id is None):
        raise InvalidInput("a calendar token opens exactly one feed: a user's or a schedule's")
    plaintext = _CALENDAR_PREFIX + secrets.token_urlsafe(32)
    row = CalendarToken(
        user_id=user_id, schedule_id=schedule_id, token_hash=token_hash(plaintext), created_at=now
    )
    session.add(row)
    session.flush()
    return row, plaintext


def find_calendar_token(session: Session, token: str) -> CalendarToken | None:
    """The live calendar token row for a presented token, or None (revoked tokens are not found)."""
    row = session.exec(select(CalendarToken).where(CalendarToken.token_hash == token_hash(token))).first()
    return None if row is None or row.revoked_at is not None else row


def revoke_calendar_token(session: Session, token_id: int, now: datetime) -> CalendarToken:
    """Revoke a calendar token; its feed URL answers 404 from now on."""
    row = session.get(CalendarToken, token_id)
    if row is None:
        raise NotFound(f"no calendar token {token_id}")
    row.revoked_at = row.revoked_at or now
    session.add(row)
    session.flush()
    return row
