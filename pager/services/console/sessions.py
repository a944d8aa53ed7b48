"""Console sessions: a cookie signed with PAGER_SECRET_KEY, and who it stands for, checked per request.

The cookie holds plain values (no secret): its CSRF token, when it expires, and either the API token
it was opened with (by id) or the person a login link was for (by id) with that link's role. Every
request looks the token or the person up again (read-only), so revoking the token or deactivating
the person ends the session at once. A session with no role is anonymous: it only carries the CSRF
token of the login forms.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Engine

from pager.db.session import session_scope
from pager.db.tables import ApiToken, User
from pager.services.people.tokens import ROLE_RANK, Bearer

SESSION_COOKIE = "pager_session"
SESSION_LENGTH = timedelta(hours=12)
_SALT = "pager-console-session"


@dataclass(frozen=True)
class ConsoleSession:
    """What the session cookie says. `role` None: nobody is logged in."""

    csrf: str
    expires: int  # UTC epoch seconds
    role: str | None = None
    token_id: int | None = None  # opened with this API token
    user_id: int | None = None  # or with a login link for this person

    @property
    def logged_in(self) -> bool:
        return self.role is not None


def anonymous_session(now: datetime) -> ConsoleSession:
    """A fresh session with nobody logged in and a new CSRF token."""
    return ConsoleSession(csrf=secrets.token_urlsafe(24), expires=int((now + SESSION_LENGTH).timestamp()))


def logged_in_session(
    now: datetime, role: str, *, token_id: int | None = None, user_id: int | None = None
) -> ConsoleSession:
    """A new session (new CSRF token: a login never keeps the anonymous one) for a token or a person."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")
    return replace(anonymous_session(now), role=role, token_id=token_id, user_id=user_id)


def seal(secret_key: str, session: ConsoleSession) -> str:
    """The cookie value: the session signed with the server's key."""
    return URLSafeSerializer(secret_key, salt=_SALT).dumps(asdict(session))


def unseal(secret_key: str, text: str | None, now: datetime) -> ConsoleSession | None:
    """The session in a cookie, or None when it is missing, forged, malformed or expired."""
    if not text:
        return None
    try:
        found: Any = URLSafeSerializer(secret_key, salt=_SALT).loads(text)
        session = ConsoleSession(**found)
    except (BadSignature, TypeError):
        return None
    if session.expires <= now.timestamp():
        return None
    return session


def csrf_matches(session: ConsoleSession, presented: str | None) -> bool:
    """Whether a form or header carried this session's CSRF token (compared in constant time)."""
    return bool(presented) and hmac.compare_digest(session.csrf.encode(), (presented or "").encode())


@dataclass(frozen=True)
class Visitor:
    """Who a logged-in session stands for now: the role checks of the API and a name for timelines."""

    bearer: Bearer
    display: str  # shown in the header
    actor: str  # written as `by` in alert timelines and overrides
    handle: str | None  # the person, when there is one


def visitor_of(engine: Engine, session: ConsoleSession) -> Visitor | None:
    """The live token or person behind `session`; None when revoked, deactivated or gone. Read-only."""
    if session.role is None:
        return None
    with session_scope(engine, read_only=True) as db:
        if session.token_id is not None:
            token = db.get(ApiToken, session.token_id)
            if token is None or token.revoked_at is not None or token.id is None:
                return None
            owner = db.get(User, token.user_id) if token.user_id is not None else None
            if token.user_id is not None and (owner is None or owner.deactivated_at is not None):
                return None
            bearer = Bearer(token.id, token.role, token.name, token.last_used_at, token.user_id)
            handle = owner.handle if owner is not None else None
            return Visitor(bearer, f"{token.name} ({token.role})", f"console:{token.name}", handle)
        if session.user_id is None:
            return None
        user = db.get(User, session.user_id)
        if user is None or user.deactivated_at is not None:
            return None
        bearer = Bearer(0, session.role, user.handle, None, user.id)
        return Visitor(bearer, f"{user.name} ({session.role})", f"console:{user.handle}", user.handle)
