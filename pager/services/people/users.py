"""Users, their contact methods and the notification rules that say how and when to page them."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pager.core.paging_plan import NO_SUCH_USER, EffectiveRule, Person
from pager.core.policy import NotificationRule as RuleStep
from pager.core.policy import default_rules_over
from pager.db import trigger_queries
from pager.db.session import session_scope
from pager.db.tables import ContactKind, ContactMethod, User
from pager.db.users import (
    add_contact_method,
    contact_methods_of,
    create_user,
    deactivated_handles,
    find_user_by_handle,
    users_by_handle,
)
from pager.services.errors import Conflict, InvalidInput, NotFound

HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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
    verified: bool = True,
) -> User:
    """Create a user with the given contact methods; notification rules follow the defaults.

    `verified`: an operator's own entry (the command line, the demo) counts as verified; methods
    added through the API pass False and are never paged until verified.
    """
    if not HANDLE_RE.match(handle):
        raise InvalidInput(f"handle {handle!r}: use lowercase letters, digits, '.', '_' and '-'")
    if not name.strip():
        raise InvalidInput("name must not be empty")
    requested: tuple[tuple[ContactKind, str | None], ...] = (("sms", sms), ("voice", voice), ("email", email))
    contacts = [(kind, validate_address(kind, value)) for kind, value in requested if value]
    if find_user_by_handle(session, handle) is not None:
        raise Conflict(f"user {handle!r} already exists")
    try:
        user = create_user(session, handle=handle, name=name.strip(), now=now)
        assert user.id is not None
        for kind, address in contacts:
            add_contact_method(
                session, user_id=user.id, kind=kind, address=address, now=now, verified=verified
            )
    except IntegrityError as exc:
        raise Conflict(f"user {handle!r} could not be stored: {exc.orig}") from None
    return user


def require_user(session: Session, handle: str) -> User:
    """The user with `handle`, or NotFound."""
    user = find_user_by_handle(session, handle)
    if user is None:
        raise NotFound(f"no user {handle!r}")
    return user


def list_users(session: Session) -> list[tuple[User, list[ContactMethod]]]:
    """Every user with their contact methods, by handle."""
    return [(user, contact_methods_of(session, user.id or 0)) for user in users_by_handle(session)]


def contact_methods(session: Session, user: User) -> list[ContactMethod]:
    """The user's contact methods in the order they were added."""
    return contact_methods_of(session, user.id or 0)


def effective_rules(session: Session, user_id: int) -> list[EffectiveRule]:
    """The user's rule steps in order: stored rules, else the defaults over the methods they have."""
    methods = trigger_queries.contact_method_rows(session, user_id)
    return _rule_steps(methods, trigger_queries.notification_rule_rows(session, user_id))


def person(session: Session, handle: str) -> Person:
    """`handle` as the engine sees it: id and rule steps (NO_SUCH_USER when there is none; no steps
    when deactivated)."""
    return people(session, [handle])[0].get(handle, NO_SUCH_USER)


def people(session: Session, handles: Collection[str]) -> tuple[dict[str, Person], frozenset[str]]:
    """The users with `handles` as the engine sees them, by handle (unknown handles are absent), and
    which of them are deactivated (no steps), in one plain query."""
    return _people_of(trigger_queries.people_rows(session, handles))


def everyone(session: Session) -> tuple[dict[str, Person], frozenset[str]]:
    """Every user as the engine sees them, by handle, and the deactivated handles, in one plain query
    (for many decisions)."""
    return _people_of(trigger_queries.people_rows(session, None))


def everyone_now(engine: Engine) -> tuple[dict[str, Person], frozenset[str]]:
    """`everyone` and the deactivated handles, in a read-only transaction of its own (a dry run's)."""
    with session_scope(engine, read_only=True) as session:
        return everyone(session)


def _people_of(
    found: dict[str, trigger_queries.PersonRows],
) -> tuple[dict[str, Person], frozenset[str]]:
    by_handle: dict[str, Person] = {}
    for handle, rows in found.items():
        # Stored steps only on methods that are gone or unverified: no steps (and no defaults either).
        usable = not rows.deactivated and (rows.rules or not rows.has_rules)
        steps = tuple(_rule_steps(rows.methods, rows.rules)) if usable else ()
        by_handle[handle] = Person(rows.user_id, steps)
    return by_handle, frozenset(handle for handle, rows in found.items() if rows.deactivated)


def _rule_steps(
    methods: list[tuple[int, ContactKind, str]], stored: list[tuple[int, int]]
) -> list[EffectiveRule]:
    """Steps from (id, kind, address) verified methods and (method id, delay seconds) stored rules, in
    order; a stored rule whose method is gone or unverified is left out."""
    by_id = {method_id: (kind, address) for method_id, kind, address in methods}
    if stored:
        steps = []
        for method_id, delay_seconds in stored:
            found = by_id.get(method_id)
            if found is not None:
                kind, address = found
                rule = RuleStep(kind, timedelta(seconds=delay_seconds))
                steps.append(EffectiveRule(rule, address))
        return steps
    first_of_kind: dict[ContactKind, str] = {}
    for _method_id, kind, address in methods:
        first_of_kind.setdefault(kind, address)
    return [EffectiveRule(rule, first_of_kind[rule.method]) for rule in default_rules_over(first_of_kind)]


def handles_now(engine: Engine) -> tuple[frozenset[str], frozenset[str]]:
    """Every handle and the deactivated ones, in a read-only transaction of its own (`pager check`'s
    warnings)."""
    with session_scope(engine, read_only=True) as session:
        return frozenset(u.handle for u in users_by_handle(session)), frozenset(deactivated_handles(session))
