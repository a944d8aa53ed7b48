"""Editing people: name, contact methods set by an operator, time zone, deactivation.

A deactivated person keeps everything (alerts, timelines, pages, contact methods, rules) but is
never on call and never paged: schedules leave them out as a `remove` override over all time
would (`pager.core.overrides.deactivation_removals`), a `user:` target naming them means nobody.
Reactivating gives all of it back. See docs/escalation.md, "Deactivated people".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pager.core.durations import DurationError, parse_duration
from pager.core.localtime import zone
from pager.db.alerts import add_timeline_entry
from pager.db.outbox import cancel_pending_for_user
from pager.db.tables import ContactKind, User
from pager.db.users import add_contact_method, contact_methods_of, delete_contact_method, save
from pager.services.errors import Conflict, InvalidInput
from pager.services.people.reminders import set_remind_before
from pager.services.people.users import require_user, validate_address

# What `--sms off` (or null over the API) says: remove that kind of method.
REMOVE = "off"


@dataclass(frozen=True)
class UserChanges:
    """What an update changes; None leaves a field alone. A method set to REMOVE is removed.

    A new field is one more attribute here and one more branch in `update_user`.
    """

    name: str | None = None
    sms: str | None = None
    voice: str | None = None
    email: str | None = None
    time_zone: str | None = None
    remind_before: str | None = None  # a duration (`15m`, `1h`) or REMOVE: no shift reminders

    def methods(self) -> tuple[tuple[ContactKind, str | None], ...]:
        return (("sms", self.sms), ("voice", self.voice), ("email", self.email))


def update_user(
    session: Session, handle: str, changes: UserChanges, *, now: datetime, verified: bool
) -> User:
    """Apply `changes` to the user; InvalidInput (and nothing changed) when any part is bad.

    A method given replaces every method of that kind with this one address (`verified` as the
    caller says: True for an operator on the command line); REMOVE removes that kind; the same
    address again changes nothing (it keeps its verification). `time_zone` REMOVE clears it.
    """
    user = require_user(session, handle)
    name = changes.name.strip() if changes.name is not None else None
    if name is not None and not name:
        raise InvalidInput("name must not be empty")
    time_zone = _time_zone(changes.time_zone)
    remind_before = _remind_before(changes.remind_before)
    wanted = [
        (kind, None if value == REMOVE else validate_address(kind, value))
        for kind, value in changes.methods()
        if value is not None
    ]
    if name is not None:
        user.name = name
    if changes.time_zone is not None:
        user.time_zone = time_zone
    save(session, user)
    assert user.id is not None
    existing = contact_methods_of(session, user.id)
    for kind, address in wanted:
        same_kind = [m for m in existing if m.kind == kind]
        for method in same_kind:
            if method.address != address:
                delete_contact_method(session, method)
        if address is not None and all(m.address != address for m in same_kind):
            try:
                add_contact_method(
                    session, user_id=user.id, kind=kind, address=address, now=now, verified=verified
                )
            except IntegrityError as exc:
                raise Conflict(f"{kind} {address} could not be stored: {exc.orig}") from None
    if changes.remind_before is not None:
        set_remind_before(session, handle, remind_before, now)
    return user


def _remind_before(text: str | None) -> timedelta | None:
    if text is None or text == REMOVE:
        return None
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise InvalidInput(f"remind-before: {exc}") from None


def set_active(session: Session, handle: str, active: bool, now: datetime) -> tuple[User, bool]:
    """Deactivate (`active` False) or reactivate a user; (user, whether anything changed)."""
    user = require_user(session, handle)
    if (user.deactivated_at is None) == active:
        return user, False
    user.deactivated_at = None if active else now
    save(session, user)
    if not active:
        _cancel_pages_of(session, user, now)
    return user, True


def _cancel_pages_of(session: Session, user: User, now: datetime) -> None:
    """A deactivated person's queued pages (a voice step due in two minutes, a reminder) are never
    sent; each alert's timeline says so. The ladder itself goes on to its next level on time."""
    assert user.id is not None
    for page in cancel_pending_for_user(session, user.id, now):
        if page.alert_id is not None:
            add_timeline_entry(
                session,
                alert_id=page.alert_id,
                at=now,
                kind="page_cancelled",
                message=f"{page.method} page of {user.handle} cancelled: {user.handle} was deactivated",
                data={"user": user.handle, "method": page.method, "outbox_id": page.id},
            )


def status_of(user: User) -> Literal["active", "deactivated"]:
    """`active` or `deactivated`, as lists and documents show it."""
    return "active" if user.deactivated_at is None else "deactivated"


def _time_zone(value: str | None) -> str | None:
    if value is None or value == REMOVE:
        return None
    try:
        zone(value)
    except (ValueError, KeyError, OSError):  # OSError: a folder of zones, such as `America`
        raise InvalidInput(f"unknown time zone {value!r} (an IANA name, e.g. Europe/Berlin)") from None
    return value
