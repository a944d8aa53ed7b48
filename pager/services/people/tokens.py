"""API bearer tokens and calendar feed tokens: shown once, stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from pager.db.session import session_scope
from pager.db.tables import ApiToken, CalendarToken, User
from pager.db.tokens import (
    api_tokens_in_id_order,
    find_api_token_by_hash,
    find_calendar_token_by_hash,
    mark_api_token_used,
)
from pager.db.users import find_user_by_handle
from pager.services.errors import InvalidInput, NotFound

TokenRole = Literal["admin", "responder", "viewer"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "responder": 1, "admin": 2}
_API_PREFIX = "pgr_"
_CALENDAR_PREFIX = "pgc_"


def token_hash(token: str) -> str:
    """SHA-256 of a token: tokens are 256 random bits, so a fast hash is enough (no password stretching)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(
    session: Session, *, role: str, name: str, now: datetime, user: str | None = None
) -> tuple[ApiToken, str]:
    """A new API token (row, plaintext); the plaintext exists only in the return value.

    `user`: the handle of the person it acts for; a responder token edits only that person's own
    settings (contact methods, rules, profile). Without one, a responder edits nobody's.
    """
    if role not in ROLE_RANK:
        raise InvalidInput(f"role must be admin, responder or viewer, not {role!r}")
    user_id = None
    if user is not None:
        found = find_user_by_handle(session, user)
        if found is None:
            raise NotFound(f"no user {user!r}")
        user_id = found.id
    plaintext = _API_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        token_hash=token_hash(plaintext),
        role=role,  # type: ignore[arg-type]
        name=name or role,
        created_at=now,
        user_id=user_id,
    )
    session.add(row)
    session.flush()
    return row, plaintext


@dataclass(frozen=True)
class Bearer:
    """A live API token as authentication sees it: plain values, no session attached."""

    id: int
    role: str
    name: str
    last_used_at: datetime | None
    user_id: int | None = None  # the person it acts for (docs/api.md, "Roles")

    def may_edit(self, user_id: int | None) -> bool:
        """Whether this token may change person `user_id`'s settings: admins anyone's, responders
        their own (a token tied to them), viewers nobody's."""
        if self.role == "admin":
            return True
        return self.role == "responder" and self.user_id is not None and self.user_id == user_id


def find_bearer(engine: Engine, token: str) -> Bearer | None:
    """The live API token for a presented bearer token, or None. Read-only: never takes the writer."""
    with session_scope(engine, read_only=True) as session:
        row = find_api_token_by_hash(session, token_hash(token))
        if row is None or row.revoked_at is not None or row.id is None:
            return None
        if row.user_id is not None:  # a deactivated person's tokens stop working with them
            owner = session.get(User, row.user_id)
            if owner is None or owner.deactivated_at is not None:
                return None
        return Bearer(
            id=row.id, role=row.role, name=row.name, last_used_at=row.last_used_at, user_id=row.user_id
        )


def token_owner(session: Session, row: ApiToken) -> str | None:
    """The handle of the person a token acts for, if any."""
    owner = session.get(User, row.user_id) if row.user_id is not None else None
    return owner.handle if owner is not None else None


class TokenUse:
    """When each token was last used, written to the database at most once a minute per token.

    Authentication only reads; a request that finds its token's stored `last_used_at` older than
    WRITE_EVERY asks for a write, which runs after the response, in its own short transaction.
    """

    WRITE_EVERY = timedelta(minutes=1)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written: dict[int, datetime] = {}

    def due(self, bearer: Bearer, now: datetime) -> bool:
        """Whether this use should be written (and, if so, claim the write for this minute)."""
        with self._lock:
            last = self._written.get(bearer.id, bearer.last_used_at)
            if last is not None and now - last < self.WRITE_EVERY:
                return False
            self._written[bearer.id] = now
            return True

    @staticmethod
    def write(engine: Engine, token_id: int, now: datetime) -> None:
        """Record the use (one UPDATE of one row, in a transaction of its own)."""
        with session_scope(engine) as session:
            mark_api_token_used(session, token_id, now)


def list_api_tokens(session: Session) -> list[ApiToken]:
    """Every API token (hashes are never returned by the API)."""
    return api_tokens_in_id_order(session)


def api_tokens_with_owners(session: Session) -> list[tuple[ApiToken, str | None]]:
    """Every API token with the handle of the person it acts for (None: nobody)."""
    return [(row, token_owner(session, row)) for row in api_tokens_in_id_order(session)]


def revoke_api_token(session: Session, token_id: int, now: datetime) -> ApiToken:
    """Revoke an API token; it stops working at once."""
    return _revoke(session, ApiToken, token_id, now, "API token")


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
    row = find_calendar_token_by_hash(session, token_hash(token))
    return None if row is None or row.revoked_at is not None else row


def revoke_calendar_token(session: Session, token_id: int, now: datetime) -> CalendarToken:
    """Revoke a calendar token; its feed URL answers 404 from now on."""
    return _revoke(session, CalendarToken, token_id, now, "calendar token")


_Token = TypeVar("_Token", ApiToken, CalendarToken)


def _revoke(session: Session, model: type[_Token], token_id: int, now: datetime, what: str) -> _Token:
    row = session.get(model, token_id)
    if row is None:
        raise NotFound(f"no {what} {token_id}")
    row.revoked_at = row.revoked_at or now  # revoking twice keeps the first instant
    session.add(row)
    session.flush()
    return row
