"""Schedule overrides: add, remove, replace and swap who holds a role for a while (stored in the database).

Each kind is checked against the schedule as it stands (layers and the overrides already stored)
before anything is written: a removal or replacement must name someone who holds the role in the
window, a swap's instants must fall in the named people's shifts. See docs/schedules.md, "Overrides".
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from pager.config.loader import LoadedConfig
from pager.core.localtime import format_instant, require_aware
from pager.core.model import OVERRIDE_KINDS, ROLES, Override, OverrideKind, Role, Schedule
from pager.core.overrides import OverrideError, deactivation_removals, holds_role_in, swap_overrides
from pager.core.schedule import ScheduleError
from pager.db import overrides as stored_overrides
from pager.db.session import session_scope
from pager.db.tables import OverrideRow
from pager.db.users import deactivated_handles
from pager.services.errors import InvalidInput, NotFound
from pager.services.people.users import require_user

# A removal or replacement is checked against the schedule's final shifts over its whole window, so
# the window is capped like a shifts query.
MAX_CHECKED_WINDOW = timedelta(days=400)
# A swap's shifts are looked for this far around its instants (pager.core.overrides' widest search).
_SWAP_REACH = timedelta(days=401)


def add_override(
    session: Session,
    config: LoadedConfig,
    *,
    schedule_id: str,
    role: str,
    user: str,
    start: datetime,
    end: datetime,
    now: datetime,
    created_by: str | None = None,
) -> OverrideRow:
    """Validate and store an `add` override: known schedule and user, a real role, end after start."""
    return create_override(
        session,
        config,
        kind="add",
        schedule_id=schedule_id,
        role=role,
        user=user,
        start=start,
        end=end,
        now=now,
        created_by=created_by,
    )


def create_override(
    session: Session,
    config: LoadedConfig,
    *,
    kind: str,
    schedule_id: str,
    role: str,
    user: str,
    start: datetime,
    end: datetime,
    now: datetime,
    instead_of: str | None = None,
    created_by: str | None = None,
) -> OverrideRow:
    """Validate and store an override of any kind (`add`, `remove`, `replace`).

    `remove`: `user` must hold `role` somewhere in the window. `replace`: `instead_of` must, and is
    required (and only allowed) for this kind. Both are at most 400 days long. InvalidInput or
    NotFound otherwise, and nothing is stored.
    """
    schedule = _schedule(config, schedule_id)
    checked_role = _role(role)
    checked_kind = _kind(kind)
    start, end = require_aware(start), require_aware(end)
    if end <= start:
        raise InvalidInput(f"override must end after it starts ({end.isoformat()} <= {start.isoformat()})")
    require_user(session, user)
    if checked_kind == "replace":
        if instead_of is None:
            raise InvalidInput("a replace override needs instead_of (the person replaced)")
        require_user(session, instead_of)
        if instead_of == user:
            raise InvalidInput(f"cannot replace {user!r} with themselves")
    elif instead_of is not None:
        raise InvalidInput(f"instead_of is only for replace overrides, not {checked_kind}")
    if checked_kind != "add":
        if end - start > MAX_CHECKED_WINDOW:
            longest = MAX_CHECKED_WINDOW.days
            raise InvalidInput(f"a {checked_kind} override may be at most {longest} days long")
        absent = user if checked_kind == "remove" else instead_of
        assert absent is not None
        existing = stored_overrides.overrides_overlapping(session, schedule_id, start, end)
        if not _holds(schedule, checked_role, absent, start, end, existing):
            raise InvalidInput(
                f"{absent!r} is not {checked_role} of {schedule_id!r} between "
                f"{format_instant(start)} and {format_instant(end)}: nothing to {checked_kind}"
            )
    override = Override(schedule_id, checked_role, start, end, user, checked_kind, instead_of)
    return stored_overrides.add_override(session, override, now=now, created_by=created_by)


def swap_shifts(
    session: Session,
    config: LoadedConfig,
    *,
    schedule_id: str,
    role: str,
    user: str,
    user_at: datetime,
    other: str,
    other_at: datetime,
    now: datetime,
    created_by: str | None = None,
) -> tuple[OverrideRow, OverrideRow]:
    """`user`'s shift containing `user_at` goes to `other` and `other`'s containing `other_at` to `user`.

    Stored as two `replace` rows (returned in that order). InvalidInput when an instant is not in the
    named person's shift (stored overrides applied) or the two are one person; nothing stored then.
    """
    schedule = _schedule(config, schedule_id)
    checked_role = _role(role)
    user_at, other_at = require_aware(user_at), require_aware(other_at)
    require_user(session, user)
    require_user(session, other)
    existing = stored_overrides.overrides_overlapping(
        session, schedule_id, min(user_at, other_at) - _SWAP_REACH, max(user_at, other_at) + _SWAP_REACH
    )
    try:
        give, take = swap_overrides(schedule, checked_role, user, user_at, other, other_at, existing)
    except (OverrideError, ScheduleError) as exc:
        raise InvalidInput(str(exc)) from None
    rows = (
        stored_overrides.add_override(session, give, now=now, created_by=created_by),
        stored_overrides.add_override(session, take, now=now, created_by=created_by),
    )
    return rows


def list_overrides(
    session: Session,
    schedule_id: str | None = None,
    *,
    ending_after: datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[OverrideRow]:
    """Stored overrides, in creation order: optionally of one schedule, optionally only those in
    force or to come at `ending_after` (ending after it), optionally `limit` of them from `offset`."""
    return stored_overrides.override_rows_oldest_first(
        session, schedule_id, ending_after, limit=limit, offset=offset
    )


def delete_override(session: Session, override_id: int) -> None:
    """Remove an override; NotFound when there is none with that id."""
    row = session.get(OverrideRow, override_id)
    if row is None:
        raise NotFound(f"no override {override_id}")
    session.delete(row)
    session.flush()


def overrides_for(
    session: Session,
    schedule_id: str,
    start: datetime,
    end: datetime,
    inactive: Collection[str] | None = None,
) -> list[Override]:
    """Overrides of `schedule_id` meeting [start, end), every kind, as the calculator takes them: the
    stored ones, then a removal over all time for each deactivated person (`inactive`, read here when
    not given), so `oncall`, `shifts`, coverage, feeds and the engine all leave them out alike."""
    stored = stored_overrides.overrides_overlapping(session, schedule_id, start, end)
    if inactive is None:
        inactive = deactivated_handles(session)
    return stored + deactivation_removals(schedule_id, inactive)


def overrides_of(
    engine: Engine, schedule_ids: Iterable[str], start: datetime, end: datetime
) -> list[Override]:
    """Overrides of these schedules meeting [start, end), read in a transaction of their own."""
    with session_scope(engine, read_only=True) as session:
        return [
            override
            for schedule_id in schedule_ids
            for override in overrides_for(session, schedule_id, start, end)
        ]


def _schedule(config: LoadedConfig, schedule_id: str) -> Schedule:
    schedule = config.schedules.get(schedule_id)
    if schedule is None:
        raise NotFound(f"no schedule {schedule_id!r}")
    return schedule


def _role(role: str) -> Role:
    if role not in ROLES:
        raise InvalidInput(f"role must be primary or secondary, not {role!r}")
    return "primary" if role == "primary" else "secondary"


def _kind(kind: str) -> OverrideKind:
    for known in OVERRIDE_KINDS:
        if kind == known:
            return known
    raise InvalidInput(f"kind must be one of {', '.join(OVERRIDE_KINDS)}, not {kind!r}")


def _holds(
    schedule: Schedule, role: Role, user: str, start: datetime, end: datetime, existing: list[Override]
) -> bool:
    try:
        return holds_role_in(schedule, role, user, start, end, existing)
    except ScheduleError as exc:
        raise InvalidInput(str(exc)) from None
