"""Contact methods a person adds through the API: unverified until proved, never paged before.

Adding one sends a 6-digit code by SMS or voice, or a signed link by email, as a notice (the outbox,
like a page). `verify` checks the code. Against guessing: only an HMAC of the code (keyed with the
server's secret and the method id) is stored; it expires (10 minutes; an email link a day); every
try is counted atomically and the 5th wrong one kills the code; the compare is constant-time; a new
code replaces the old. See docs/phone-and-email.md, "Verifying a contact method".
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pager.db.outbox import notices_of_kind_since
from pager.db.tables import ContactKind, ContactMethod, User
from pager.db.users import (
    add_contact_method,
    claim_code_attempt,
    contact_methods_of,
    delete_contact_method,
    find_contact_method,
    save,
)
from pager.services.delivery.notices import Notice, queue_notice
from pager.services.errors import Conflict, InvalidInput, NotFound, TooMany
from pager.services.people.users import require_user, validate_address
from pager.settings import Settings, signing_key

CODE_LIFETIME = timedelta(minutes=10)
LINK_LIFETIME = timedelta(days=1)
DAILY_CODE_LIMIT = 10  # verification codes (and links) sent to one person in 24 hours
MAX_TRIES = 5
_LINK_SALT = "pager.verify-email.v1"

VerifyOutcome = Literal["verified", "already_verified", "wrong", "dead"]


@dataclass(frozen=True)
class Secrets:
    """What codes and links are made with: the server's secret key and public URL."""

    secret_key: str
    public_url: str


def secrets_of(settings: Settings) -> Secrets:
    """The server's codes-and-links keys; InvalidInput when it has no usable secret key."""
    key = signing_key(settings)
    if key is None:
        raise InvalidInput("this server has no usable PAGER_SECRET_KEY, so it cannot send verification codes")
    return Secrets(key, settings.public_url)


def list_methods(session: Session, handle: str) -> tuple[User, list[ContactMethod]]:
    """The user and their contact methods, in the order they were added."""
    user = require_user(session, handle)
    return user, contact_methods_of(session, user.id or 0)


def add_method(
    session: Session, keys: Secrets, handle: str, kind: str, address: str, now: datetime
) -> tuple[ContactMethod, Notice]:
    """Add an unverified method to the user and queue its code (or link); Conflict when they have it."""
    user = require_user(session, handle)
    if kind not in ("sms", "voice", "email"):
        raise InvalidInput(f"kind must be sms, voice or email, not {kind!r}")
    checked: ContactKind = kind  # type: ignore[assignment]
    value = validate_address(checked, address)
    if any(m.kind == checked and m.address == value for m in contact_methods_of(session, user.id or 0)):
        raise Conflict(f"{handle} already has {checked} {value}")
    try:
        method = add_contact_method(
            session, user_id=user.id or 0, kind=checked, address=value, now=now, verified=False
        )
    except IntegrityError:
        raise Conflict(f"{handle} already has {checked} {value}") from None
    return method, send_code(session, keys, user, method, now)


def resend_code(session: Session, keys: Secrets, handle: str, method_id: int, now: datetime) -> Notice:
    """A new code (or link) for an unverified method; the old one stops working."""
    user, method = _method(session, handle, method_id)
    if method.verified:
        raise Conflict(f"contact method {method_id} is verified already")
    return send_code(session, keys, user, method, now)


def send_pending_codes(session: Session, settings: Settings, user: User, now: datetime) -> list[Notice]:
    """A code (or link) to each unverified method of `user` with none pending (methods set through the
    API start unverified and are never paged before they are proved)."""
    pending = [m for m in contact_methods_of(session, user.id or 0) if not m.verified and m.code_hash is None]
    if not pending:
        return []
    keys = secrets_of(settings)
    return [send_code(session, keys, user, method, now) for method in pending]


def send_code(session: Session, keys: Secrets, user: User, method: ContactMethod, now: datetime) -> Notice:
    """Store a fresh code's hash on `method` (replacing any older one) and queue the notice carrying it."""
    assert method.id is not None and user.id is not None
    if notices_of_kind_since(session, "verify", user.id, now - timedelta(days=1)) >= DAILY_CODE_LIMIT:
        # Each code is a paid SMS or call to a number the requester chose: without a cap per person,
        # a stolen responder token could pump messages to premium numbers through us.
        raise TooMany(
            f"{user.handle} was sent {DAILY_CODE_LIMIT} verification codes in the last 24 hours;"
            " try again tomorrow or ask an admin"
        )
    if method.kind == "email":
        code = secrets.token_urlsafe(24)
        lifetime = LINK_LIFETIME
        token = URLSafeTimedSerializer(keys.secret_key, salt=_LINK_SALT).dumps({"m": method.id, "c": code})
        link = f"{keys.public_url.rstrip('/')}/verify/{token}"
        body = f"Confirm that pager may page you at this address: {link}\nThe link works for 24 hours."
        subject = "pager: confirm your email address"
    else:
        code = f"{secrets.randbelow(10**6):06d}"
        lifetime = CODE_LIFETIME
        spoken = " ".join(code)
        body = (
            f"pager verification code: {code}. It expires in 10 minutes."
            if method.kind == "sms"
            else f"Your pager verification code is {spoken}. Again: {spoken}."
        )
        subject = ""
    method.code_hash = _digest(keys.secret_key, method.id, code)
    method.code_expires_at = now + lifetime
    method.code_attempts = 0
    save(session, method)
    notice = Notice(
        key=f"verify:{method.id}:{method.code_hash[:24]}",
        user_id=user.id,
        user_handle=user.handle,
        method=method.kind,
        address=method.address,
        body=body,
        subject=subject,
    )
    queue_notice(session, notice, now)
    return notice


def verify(
    session: Session, keys: Secrets, handle: str, method_id: int, code: str, now: datetime
) -> VerifyOutcome:
    """Check `code` for the user's method. The try is counted in this transaction, whatever the
    outcome: the caller commits, then reports `wrong` or `dead` (see `refuse`)."""
    _user, method = _method(session, handle, method_id)
    if method.kind == "email":  # an email's code is its link's token
        claim = read_link(keys, code)
        code = claim[1] if claim is not None and claim[0] == method_id else ""
    return _check(session, keys, method, code, now)


def verify_link(session: Session, keys: Secrets, claim: tuple[int, str], now: datetime) -> VerifyOutcome:
    """Check an email verification link's claim (`read_link`: the method and its code)."""
    method_id, code = claim
    method = session.get(ContactMethod, method_id)
    if method is None or method.kind != "email":
        return "dead"
    return _check(session, keys, method, code, now)


def refuse(outcome: VerifyOutcome) -> None:
    """InvalidInput for a wrong or dead code (after the transaction that counted the try committed)."""
    if outcome == "wrong":
        raise InvalidInput("wrong code")
    if outcome == "dead":
        raise InvalidInput(
            f"no live code for this method (expired, replaced, or {MAX_TRIES} wrong tries); ask for a new one"
        )


def remove_method(session: Session, handle: str, method_id: int) -> ContactMethod:
    """Remove one of the user's methods (the rules that use it go with it)."""
    _user, method = _method(session, handle, method_id)
    delete_contact_method(session, method)
    return method


def _check(session: Session, keys: Secrets, method: ContactMethod, code: str, now: datetime) -> VerifyOutcome:
    if method.verified:
        return "already_verified"
    assert method.id is not None
    if not claim_code_attempt(session, method.id, MAX_TRIES, now):
        return "dead"
    session.refresh(method)
    expected = method.code_hash or ""
    if not hmac.compare_digest(_digest(keys.secret_key, method.id, code.strip()), expected):
        return "wrong"
    method.verified = True
    method.code_hash = None
    method.code_expires_at = None
    method.code_attempts = 0
    save(session, method)
    return "verified"


def read_link(keys: Secrets, token: str) -> tuple[int, str] | None:
    """(method id, code) of a verification link's token, or None when it is not one of ours or has
    expired: a signature check, no database."""
    try:
        claim = URLSafeTimedSerializer(keys.secret_key, salt=_LINK_SALT).loads(
            token, max_age=int(LINK_LIFETIME.total_seconds())
        )
        return int(claim["m"]), str(claim["c"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def _method(session: Session, handle: str, method_id: int) -> tuple[User, ContactMethod]:
    user = require_user(session, handle)
    method = find_contact_method(session, user.id or 0, method_id)
    if method is None:
        raise NotFound(f"{handle} has no contact method {method_id}")
    return user, method


def _digest(secret_key: str, method_id: int, code: str) -> str:
    message = f"{method_id}:{code}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()
