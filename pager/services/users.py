"""Users, their contact methods and the notification rules that say how and when to page them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pager.core.policy import DEFAULT_RULES
from pager.core.policy import NotificationRule as RuleStep
from pager.db import repositories as repo
from pager.db.tables import ContactKind, ContactMethod, NotificationRule, User
from pager.services.errors import Conflict, InvalidInput, NotFound

HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class EffectiveRule:
    """A user's rule step as the engine uses it: the core rule and the address it pages."""

    rule: RuleStep
    address: str


def validate_address(kind: ContactKind, address: str) -> str:
    """The address, stripped, or InvalidInput naming what is wrong with it."""
    value = address.strip()
    if kind in ("sms", "voice") and not E164_RE.match(value):
        raise InvalidInput(f"{kind} number {address!r} is not E.164 (e.g. +15555550123)")
    if kind == "email" and not EMAIL_RE.match(value):
        raise InvalidInput(f"email address {address!r} is not valid")
    return value


def add_user(
    session: Session,
    *,
    handle: str,
    name: str,
    now: datetime,
    sms: str | None = None,
    voice: str | None = None,
    email: str | None = None,
) -> User:
    """Create a user with the given contact methods; notification rules follow the defaults."""
    if not HANDLE_RE.match(handle):
        raise InvalidInput(f"handle {handle!r}: use lowercase letters, digits, '.', '_' and '-'")
    if not name.strip():
        raise InvalidInput("name must not be empty")
    requested: tuple[tuple[ContactKind, str | None], ...] = (("sms", sms), ("voice", voice), ("email", email))
    contacts = [(kind, validate_address(kind, value)) for kind, value in requested if value]
    if repo.find_user_by_handle(session, handle) is not None:
        raise Conflict(f"user {handle!r} already exists")
    try:
        user = repo.create_user(session, handle=handle, name=name.strip(), now=now)
        assert user.id is not None
        for kind, address in contacts:
            repo.add_contact_method(session, user_id=user.id, kind=kind, address=address, now=now)
    except IntegrityError as exc:
        raise Conflict(f"user {handle!r} could not be stored: {exc.orig}") from None
    return user


def require_user(session: Session, handle: str) -> User:
    """The user with `handle`, or NotFound."""
    user = repo.find_user_by_handle(session, handle)
    if user is None:
        raise NotFound(f"no user {handle!r}")
    return user


def list_users(session: Session) -> list[tuple[User, list[ContactMethod]]]:
    """Every user with their contact methods, by handle."""
    users = session.exec(select(User).order_by(col(User.handle))).all()
    return [(user, repo.contact_methods_of(session, user.id or 0)) for user in users]


def effective_rules(session: Session, user: User) -> list[EffectiveRule]:
    """The user's rule steps in order: stored rules, else the defaults over the methods they have."""
    methods = repo.contact_methods_of(session, user.id or 0)
    return _rule_steps(methods, repo.notification_rules_of(session, user.id or 0))


def everyones_rules(session: Session) -> tuple[dict[str, User], dict[str, list[EffectiveRule]]]:
    """Every user by handle and their rule steps, in three queries (for a batch of decisions)."""
    users = {user.handle: user for user in session.exec(select(User))}
    methods: dict[int, list[ContactMethod]] = {}
    for method in session.exec(select(ContactMethod).order_by(col(ContactMethod.id))):
        methods.setdefault(method.user_id, []).append(method)
    rules: dict[int, list[NotificationRule]] = {}
    order = (col(NotificationRule.delay_seconds), col(NotificationRule.position), col(NotificationRule.id))
    for rule in session.exec(select(NotificationRule).order_by(*order)):
        rules.setdefault(rule.user_id, []).append(rule)
    steps = {
        handle: _rule_steps(methods.get(user.id or 0, []), rules.get(user.id or 0, []))
        for handle, user in users.items()
    }
    return users, steps


def _rule_steps(methods: list[ContactMethod], stored: list[NotificationRule]) -> list[EffectiveRule]:
    by_id = {m.id: m for m in methods}
    if stored:
        steps = []
        for rule in stored:
            method = by_id.get(rule.contact_method_id)
            if method is not None:
                delay = timedelta(seconds=rule.delay_seconds)
                steps.append(EffectiveRule(RuleStep(method.kind, delay), method.address))
        return steps
    first_of_kind: dict[str, str] = {}
    for method in methods:
        first_of_kind.setdefault(method.kind, method.address)
    return [
        EffectiveRule(rule, first_of_kind[rule.method])
        for rule in DEFAULT_RULES
        if rule.method in first_of_kind
    ]
