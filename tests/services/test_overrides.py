"""Override kinds through the services and the real database: checks, storage, and the engine.

Runs on SQLite, and on Postgres when PAGER_TEST_DATABASE_URL is set. The config is test_engine's
(team: alice and bob weekly in America/Chicago, alice's week from T0 = Monday 2026-03-02 09:00 local).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session

from pager.core.schedule import final_shifts
from pager.db.session import session_scope
from pager.db.tables import OverrideRow
from pager.services.calendars import overrides
from pager.services.calendars.shifts import on_call_at
from pager.services.errors import InvalidInput, NotFound
from pager.services.runtime import Runtime
from pager.worker import tick
from tests.services import test_engine as engine_tests
from tests.services.test_engine import T0, trigger, who_was_paged

pytestmark = pytest.mark.database

runtime = engine_tests.runtime  # the same fixture: console notifiers, users alice..dana
WEEK = timedelta(weeks=1)
H = timedelta(hours=1)


def create(runtime: Runtime, **fields: Any) -> OverrideRow:
    base: dict[str, Any] = {"role": "primary", "schedule_id": "team", "now": T0}
    with session_scope(runtime.engine) as session:
        return overrides.create_override(session, runtime.config, **{**base, **fields})


def stored(runtime: Runtime) -> list[tuple[str, str, str | None]]:
    with session_scope(runtime.engine, read_only=True) as session:
        return [(r.kind, r.user_handle, r.instead_of) for r in overrides.list_overrides(session)]


def primary_at(runtime: Runtime, offset: timedelta) -> str | None:
    with session_scope(runtime.engine, read_only=True) as session:
        return on_call_at(session, runtime.config, "team", T0 + offset).primary


def test_remove_makes_the_engine_page_the_next_member(runtime: Runtime) -> None:
    create(runtime, kind="remove", user="alice", start=T0 - H, end=T0 + H)
    assert stored(runtime) == [("remove", "alice", None)]
    alert_id = trigger(runtime)
    tick(runtime, T0)
    assert who_was_paged(runtime) == ["bob"]
    assert "level_paged: level 1 (loop 1) paged: bob" in engine_tests.timeline(runtime, alert_id)


def test_replace_makes_the_engine_page_the_replacement(runtime: Runtime) -> None:
    create(runtime, kind="replace", user="carol", instead_of="alice", start=T0 - H, end=T0 + H)
    trigger(runtime)
    tick(runtime, T0)
    assert who_was_paged(runtime) == ["carol"]


def test_kinds_round_trip_through_the_database_in_creation_order(runtime: Runtime) -> None:
    create(runtime, kind="add", user="dana", start=T0, end=T0 + 2 * H)
    create(runtime, kind="remove", user="dana", start=T0 + H, end=T0 + 2 * H)
    create(runtime, kind="replace", user="carol", instead_of="alice", start=T0, end=T0 + 3 * H)
    with session_scope(runtime.engine, read_only=True) as session:
        got = overrides.overrides_for(session, "team", T0, T0 + 3 * H)
    assert [(o.kind, o.user, o.instead_of, o.start, o.end) for o in got] == [
        ("add", "dana", None, T0, T0 + 2 * H),
        ("remove", "dana", None, T0 + H, T0 + 2 * H),
        ("replace", "carol", "alice", T0, T0 + 3 * H),
    ]
    # dana added, then removed for the second hour (back to alice, whom carol replaces).
    assert [primary_at(runtime, offset) for offset in (timedelta(0), H, 2 * H, 3 * H)] == [
        "dana",
        "carol",
        "carol",
        "alice",
    ]


def test_swap_stores_two_replacements_that_trade_the_weeks(runtime: Runtime) -> None:
    with session_scope(runtime.engine) as session:
        give, take = overrides.swap_shifts(
            session,
            runtime.config,
            schedule_id="team",
            role="primary",
            user="alice",
            user_at=T0 + H,
            other="bob",
            other_at=T0 + WEEK + H,
            now=T0,
        )
    assert (give.kind, give.user_handle, give.instead_of, give.start) == ("replace", "bob", "alice", T0)
    assert (take.user_handle, take.instead_of, take.start) == ("alice", "bob", give.end)
    assert primary_at(runtime, 3 * H) == "bob"
    assert primary_at(runtime, WEEK + 3 * H) == "alice"
    assert primary_at(runtime, 2 * WEEK + 3 * H) == "alice"  # the rotation again
    with session_scope(runtime.engine, read_only=True) as session:
        window = (T0, T0 + 3 * WEEK - H)  # three weeks: the clocks went forward on 03-08
        stored_rows = overrides.overrides_for(session, "team", *window)
    schedule = runtime.config.schedules["team"]
    assert [s.user for s in final_shifts(schedule, "primary", *window, stored_rows)] == ["bob", "alice"]


def swap(**fields: Any) -> Callable[[Session, Runtime], object]:
    def call(session: Session, runtime: Runtime) -> object:
        arguments: dict[str, Any] = {
            "schedule_id": "team",
            "role": "primary",
            "user": "alice",
            "user_at": T0 + H,
            "other": "bob",
            "other_at": T0 + WEEK + H,
            "now": T0,
        }
        return overrides.swap_shifts(session, runtime.config, **{**arguments, **fields})

    return call


def made(**fields: Any) -> Callable[[Session, Runtime], object]:
    def call(session: Session, runtime: Runtime) -> object:
        arguments: dict[str, Any] = {
            "schedule_id": "team",
            "role": "primary",
            "start": T0,
            "end": T0 + H,
            "now": T0,
        }
        return overrides.create_override(session, runtime.config, **{**arguments, **fields})

    return call


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (made(kind="remove", user="bob"), InvalidInput, "'bob' is not primary of 'team' between"),
        (made(kind="remove", user="zed"), NotFound, "no user 'zed'"),
        (made(kind="remove", user="alice", end=T0 - H), InvalidInput, "override must end after it starts"),
        (made(kind="remove", user="alice", schedule_id="nope"), NotFound, "no schedule 'nope'"),
        (made(kind="remove", user="alice", role="boss"), InvalidInput, "role must be primary or secondary"),
        (made(kind="remove", user="dana", role="secondary"), InvalidInput, "'dana' is not secondary"),
        (made(kind="replace", user="carol"), InvalidInput, "a replace override needs instead_of"),
        (made(kind="replace", user="carol", instead_of="zed"), NotFound, "no user 'zed'"),
        (made(kind="replace", user="carol", instead_of="bob"), InvalidInput, "'bob' is not primary"),
        (made(kind="replace", user="alice", instead_of="alice"), InvalidInput, "cannot replace 'alice'"),
        (made(kind="add", user="carol", instead_of="alice"), InvalidInput, "instead_of is only for replace"),
        (made(kind="shove", user="carol"), InvalidInput, "kind must be one of add, remove, replace"),
        (swap(user_at=T0 + WEEK), InvalidInput, "'alice' is not primary of 'team' at 2026-03-09"),
        (
            swap(other_at=T0),
            InvalidInput,
            r"'bob' is not primary of 'team' at 2026-03-02T15:00:00\+00:00 \('alice' is\)",
        ),
        (swap(other="alice"), InvalidInput, "cannot swap 'alice' with themselves"),
        (swap(other="zed"), NotFound, "no user 'zed'"),
        (swap(schedule_id="nope"), NotFound, "no schedule 'nope'"),
    ],
)
def test_bad_overrides_are_refused_and_store_nothing(
    runtime: Runtime, call: Callable[[Session, Runtime], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message), session_scope(runtime.engine) as session:
        call(session, runtime)
    assert stored(runtime) == []


def test_remove_is_checked_against_the_overrides_already_stored(runtime: Runtime) -> None:
    create(runtime, kind="add", user="carol", start=T0, end=T0 + H)
    with pytest.raises(InvalidInput, match="'alice' is not primary"):
        create(runtime, kind="remove", user="alice", start=T0, end=T0 + H)
    create(runtime, kind="remove", user="carol", start=T0, end=T0 + H)  # carol is on, so she can go
    assert primary_at(runtime, timedelta(minutes=30)) == "alice"
    assert [kind for kind, _, _ in stored(runtime)] == ["add", "remove"]
