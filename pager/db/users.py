"""Users, their contact methods and notification rules (tables `users`, `contact_methods`,
`notification_rules`). The caller owns the session and its transaction; writes only flush."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, SQLModel, col, select

from pager.db.tables import ContactKind, ContactMethod, NotificationRule, User


def create_user(
    session: Session, *, handle: str, name: str, now: datetime, time_zone: str | None = None
) -> User:
    """Add a user (flushed, so `id` is set); a taken handle raises IntegrityError."""
    user = User(handle=handle, name=name, time_zone=time_zone, created_at=now)
    session.add(user)
    session.flush()
    return user


def find_user_by_handle(session: Session, handle: str) -> User | None:
    """The user with this handle, if any."""
    return session.exec(select(User).where(User.handle == handle)).first()


def users_by_handle(session: Session) -> list[User]:
    """Every user, ordered by handle."""
    return list(session.exec(select(User).order_by(col(User.handle))))


def deactivated_handles(session: Session) -> list[str]:
    """The handles of everyone deactivated, sorted."""
    query = select(User.handle).where(col(User.deactivated_at).is_not(None)).order_by(col(User.handle))
    return list(session.exec(query))


def save(session: Session, row: SQLModel) -> None:
    """Write a changed row (user, contact method) now, in the caller's transaction."""
    session.add(row)
    session.flush()


def delete_contact_method(session: Session, method: ContactMethod) -> None:
    """Remove a contact method; rules that use it go with it."""
    for rule in session.exec(select(NotificationRule).where(NotificationRule.contact_method_id == method.id)):
        session.delete(rule)
    session.flush()  # the rules first: the database's own cascade must not beat the ORM to them
    session.delete(method)
    session.flush()


def find_contact_method(session: Session, user_id: int, method_id: int) -> ContactMethod | None:
    """The user's contact method with this id, if it is theirs."""
    method = session.get(ContactMethod, method_id)
    return method if method is not None and method.user_id == user_id else None


def replace_notification_rules(
    session: Session, user_id: int, steps: list[tuple[int, int]], now: datetime
) -> None:
    """Make (contact method id, delay seconds) `steps` the user's rules, in that order (none: defaults)."""
    for rule in session.exec(select(NotificationRule).where(NotificationRule.user_id == user_id)):
        session.delete(rule)
    session.flush()
    for position, (method_id, delay) in enumerate(steps):
        add_notification_rule(
            session,
            user_id=user_id,
            contact_method_id=method_id,
            delay_seconds=delay,
            now=now,
            position=position,
        )


def phone_number_owners(session: Session, number: str) -> dict[int, str]:
    """user id -> handle of the people who have `number` as an SMS or voice contact, by user id."""
    query = (
        select(User.id, User.handle)
        .join(ContactMethod, col(ContactMethod.user_id) == col(User.id))
        .where(ContactMethod.address == number, col(ContactMethod.kind).in_(("sms", "voice")))
        .order_by(col(User.id))
    )
    return {user_id: handle for user_id, handle in session.exec(query) if user_id is not None}


def add_contact_method(
    session: Session, *, user_id: int, kind: ContactKind, address: str, now: datetime, verified: bool = False
) -> ContactMethod:
    """Add a contact method; the same (user, kind, address) twice raises IntegrityError."""
    method = ContactMethod(user_id=user_id, kind=kind, address=address, verified=verified, created_at=now)
    session.add(method)
    session.flush()
    return method


def contact_methods_of(session: Session, user_id: int) -> list[ContactMethod]:
    """A user's contact methods in the order they were added."""
    query = select(ContactMethod).where(ContactMethod.user_id == user_id).order_by(col(ContactMethod.id))
    return list(session.exec(query))


def add_notification_rule(
    session: Session,
    *,
    user_id: int,
    contact_method_id: int,
    delay_seconds: int,
    now: datetime,
    position: int = 0,
) -> NotificationRule:
    """Add a paging step: use `contact_method_id` `delay_seconds` after the user is paged."""
    rule = NotificationRule(
        user_id=user_id,
        contact_method_id=contact_method_id,
        delay_seconds=delay_seconds,
        position=position,
        created_at=now,
    )
    session.add(rule)
    session.flush()
    return rule


def notification_rules_of(session: Session, user_id: int) -> list[NotificationRule]:
    """A user's paging steps, earliest first (ties by position, then age)."""
    query = (
        select(NotificationRule)
        .where(NotificationRule.user_id == user_id)
        .order_by(
            col(NotificationRule.delay_seconds), col(NotificationRule.position), col(NotificationRule.id)
        )
    )
    return list(session.exec(query))


def claim_code_attempt(session: Session, method_id: int, limit: int, now: datetime) -> bool:
    """Count one try at the method's pending code, atomically: False when there is no live code (none,
    expired, or `limit` tries used), so parallel guesses can never get more than `limit` between them."""
    statement = (
        update(ContactMethod)
        .where(
            col(ContactMethod.id) == method_id,
            col(ContactMethod.code_hash).is_not(None),
            col(ContactMethod.code_expires_at) > now,
            col(ContactMethod.code_attempts) < limit,
        )
        .values(code_attempts=col(ContactMethod.code_attempts) + 1)
    )
    counted = session.connection().execute(statement).rowcount == 1
    session.expire_all()  # rows loaded before see the new count
    return counted
