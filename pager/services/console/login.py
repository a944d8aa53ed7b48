"""Logging in to the console: with an API token, or with a one-time link sent by email.

A login link is a token signed with PAGER_SECRET_KEY that says who (a person, or an API token for the
demo's admin) and until when (15 minutes). Nothing is stored when a link is made; when it is used, the
SHA-256 of the link goes into `console_login_links` in the same transaction that opens the session,
so a link works once. Someone asking for a link by handle always gets the same answer, whether or not
the handle exists; the link goes out through the outbox as an email notice.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Engine

from pager.db.login_links import claim_login_link
from pager.db.session import session_scope
from pager.db.tables import ApiToken, User
from pager.db.users import contact_methods_of, find_user_by_handle
from pager.services.console.sessions import ConsoleSession, logged_in_session
from pager.services.delivery.notices import Notice, queue_notice
from pager.services.people.tokens import find_bearer

log = logging.getLogger("pager.console")

LINK_LENGTH = timedelta(minutes=15)
LINK_PATH = "/login/link"
# A person who logs in by email link acts as a responder for themselves (docs/console.md).
EMAIL_LINK_ROLE = "responder"
_SALT = "pager-console-login-link"


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=_SALT)


def link_token(
    secret_key: str, now: datetime, *, user_id: int | None = None, token_id: int | None = None
) -> str:
    """A signed login token for a person (`user_id`) or an API token (`token_id`), valid 15 minutes."""
    if (user_id is None) == (token_id is None):
        raise ValueError("a login link is for a person or for an API token, not both or neither")
    document = {
        "u": user_id,
        "t": token_id,
        "x": int((now + LINK_LENGTH).timestamp()),
        "n": secrets.token_urlsafe(8),  # two links minted in one second differ
    }
    return _serializer(secret_key).dumps(document)


def link_url(public_url: str, token: str) -> str:
    """The login URL of a link token."""
    return f"{public_url.rstrip('/')}{LINK_PATH}?token={quote(token)}"


def token_login_url(secret_key: str, public_url: str, token_id: int, now: datetime) -> str:
    """A one-time login URL for API token `token_id` (the demo prints one for its admin token)."""
    return link_url(public_url, link_token(secret_key, now, token_id=token_id))


def redeem_login_link(engine: Engine, secret_key: str, token: str, now: datetime) -> ConsoleSession | None:
    """The session a login link opens, or None when it is forged, expired, used, or its person or token
    is gone. One transaction: the use is recorded only when the link logs someone in."""
    try:
        document: Any = _serializer(secret_key).loads(token)
        user_id, token_id, expires = document["u"], document["t"], int(document["x"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None
    if expires <= now.timestamp():
        return None
    with session_scope(engine) as db:
        if token_id is not None:
            row = db.get(ApiToken, token_id)
            if row is None or row.revoked_at is not None:
                return None
            session = logged_in_session(now, row.role, token_id=token_id)
        else:
            user = db.get(User, user_id) if isinstance(user_id, int) else None
            if user is None or user.deactivated_at is not None:
                return None
            session = logged_in_session(now, EMAIL_LINK_ROLE, user_id=user.id)
        if not claim_login_link(db, hashlib.sha256(token.encode()).hexdigest(), now):
            return None
    return session


def email_login_link(engine: Engine, secret_key: str, public_url: str, handle: str, now: datetime) -> None:
    """Queue a login link to `handle`'s verified email addresses, if the handle is an active person
    with one; otherwise nothing happens (the caller answers the same either way)."""
    with session_scope(engine) as db:
        user = find_user_by_handle(db, handle.strip())
        if user is None or user.id is None or user.deactivated_at is not None:
            log.info("console_login_link_not_sent reason=unknown_or_inactive")
            return
        token = link_token(secret_key, now, user_id=user.id)
        url = link_url(public_url, token)
        methods = [m for m in contact_methods_of(db, user.id) if m.kind == "email" and m.verified]
        for method in methods:
            notice = Notice(
                key=f"console-login:{hashlib.sha256(token.encode()).hexdigest()[:32]}:{method.id}",
                user_id=user.id,
                user_handle=user.handle,
                method="email",
                address=method.address,
                subject="Your pager console login link",
                body=f"Log in to the pager console (the link works once, for 15 minutes):\n{url}\n",
            )
            queue_notice(db, notice, now)
        log.info("console_login_link_queued user=%s emails=%d", user.handle, len(methods))


def token_login(engine: Engine, token: str, now: datetime) -> ConsoleSession | None:
    """The session an API token opens (its own role), or None for an unknown or revoked token."""
    bearer = find_bearer(engine, token.strip())
    if bearer is None:
        return None
    return logged_in_session(now, bearer.role, token_id=bearer.id)
