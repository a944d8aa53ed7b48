"""People through the real services and database on a fake clock: deactivation, verified methods,
notification rules, as the engine, `oncall` and `shifts` see them (test_engine's config and people)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from pager.services.calendars import shifts
from pager.services.errors import InvalidInput, NotFound
from pager.services.people import edits, rules, users
from pager.services.runtime import Runtime
from pager.worker import tick
from tests.services import test_engine as engine_tests
from tests.services.test_engine import T0, alert_row, sent, timeline, trigger, who_was_paged

runtime = engine_tests.runtime  # alice/bob weekly on `team` (alice at T0), dana nights, user:carol at level 3

pytestmark = pytest.mark.database


def set_active(runtime: Runtime, handle: str, active: bool) -> None:
    with session_scope(runtime.engine) as session:
        edits.set_active(session, handle, active, T0)


def update(runtime: Runtime, handle: str, *, verified: bool, **changes: str) -> None:
    with session_scope(runtime.engine) as session:
        edits.update_user(session, handle, edits.UserChanges(**changes), now=T0, verified=verified)


def test_a_deactivated_person_is_skipped_and_the_role_falls_to_the_next_in_rotation(runtime: Runtime) -> None:
    set_active(runtime, "alice", False)
    alert_id = trigger(runtime)
    tick(runtime, T0)
    assert who_was_paged(runtime) == ["bob"]
    assert "level_paged: level 1 (loop 1) paged: bob" in timeline(runtime, alert_id)
    with session_scope(runtime.engine, read_only=True) as session:
        on_call = shifts.on_call_at(session, runtime.config, "team", T0)
        found = shifts.schedule_shifts(session, runtime.config, "team", T0, T0 + timedelta(days=14))
    assert (on_call.primary, on_call.secondary) == ("bob", None)
    assert {(s.role, s.user) for s in found} == {("primary", "bob")}


def test_reactivating_gives_the_shift_back(runtime: Runtime) -> None:
    set_active(runtime, "alice", False)
    set_active(runtime, "alice", True)
    trigger(runtime)
    tick(runtime, T0)
    assert who_was_paged(runtime) == ["alice"]


def test_a_user_target_naming_a_deactivated_person_pages_nobody_and_the_level_is_skipped(
    runtime: Runtime,
) -> None:
    set_active(runtime, "carol", False)
    alert_id = trigger(runtime)
    tick(runtime, T0)
    tick(runtime, T0 + timedelta(minutes=5))  # level 2 (nights) and level 3 (carol) have nobody: loop 2
    assert who_was_paged(runtime) == ["alice", "alice"]
    lines = timeline(runtime, alert_id)
    assert "level_skipped: no one on call at level 3 (loop 1); skipped" in lines
    assert not any("carol" in line for line in lines)


def test_everyone_deactivated_is_the_no_one_on_call_path_without_waiting(runtime: Runtime) -> None:
    for handle in ("alice", "bob", "carol"):
        set_active(runtime, handle, False)
    alert_id = trigger(runtime)
    tick(runtime, T0)
    assert sent(runtime) == []
    assert "no_one_on_call: no one on call at any level; retrying every minute" in timeline(runtime, alert_id)
    assert alert_row(runtime, alert_id).next_action_at == T0 + timedelta(minutes=1)


def test_an_unverified_method_is_never_paged_and_the_defaults_skip_it(runtime: Runtime) -> None:
    update(runtime, "alice", verified=False, sms="+15559999999")  # replaces her verified sms
    alert_id = trigger(runtime)
    # voice and email verified: voice first at once, email one minute later; the sms never
    tick(runtime, T0)
    assert [(method, address) for method, address, _ in sent(runtime)] == [("voice", "+15551000001")]
    for minute in (1, 2):
        tick(runtime, T0 + timedelta(minutes=minute))
    pages = [(method, address) for method, address, key in sent(runtime) if ":alice:" in key]
    assert pages == [("voice", "+15551000001"), ("email", "alice@example.com")]
    keys = [key for _, _, key in sent(runtime)]
    assert f"{alert_id}:c1:l1:v1:alice:voice:0" in keys and f"{alert_id}:c1:l1:v1:alice:email:1" in keys


def test_rules_set_by_the_person_are_what_the_engine_pages(runtime: Runtime) -> None:
    with session_scope(runtime.engine) as session:
        rules.set_rules(session, "alice", ["email:0m", "voice:2m"], T0)
    with session_scope(runtime.engine, read_only=True) as session:
        found, default = rules.rules_of(session, "alice")
    assert (rules.rules_document(found), default) == (
        [{"method": "email", "after": "0m"}, {"method": "voice", "after": "2m"}],
        False,
    )
    trigger(runtime)
    tick(runtime, T0 + timedelta(minutes=1))
    assert [m for m, _, _ in sent(runtime)] == ["email"]
    tick(runtime, T0 + timedelta(minutes=2))
    assert sorted(m for m, _, _ in sent(runtime)) == ["email", "voice"]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (["sms:0m", "fax:1m"], "bad rule step 'fax:1m'"),
        (["sms:soon"], "bad duration 'soon'"),
        (["sms"], "bad rule step 'sms'"),
        ([], "at least one rule step"),
    ],
)
def test_bad_rules_are_refused_and_change_nothing(runtime: Runtime, steps: list[str], message: str) -> None:
    with session_scope(runtime.engine) as session, pytest.raises(InvalidInput, match=message):
        rules.set_rules(session, "alice", steps, T0)
    with session_scope(runtime.engine, read_only=True) as session:
        assert rules.rules_of(session, "alice")[1] is True


def test_a_rule_for_a_method_without_a_verified_contact_names_it(runtime: Runtime) -> None:
    update(runtime, "alice", verified=False, sms="+15559999999")
    with session_scope(runtime.engine) as session, pytest.raises(InvalidInput, match="no verified sms"):
        rules.set_rules(session, "alice", ["voice:0m", "sms:1m"], T0)


def test_update_refuses_bad_input_and_changes_nothing(runtime: Runtime) -> None:
    bad = (
        edits.UserChanges(name="New", sms="555"),
        edits.UserChanges(name="New", time_zone="Mars/Olympus"),
        edits.UserChanges(name="New", time_zone="America"),  # a folder of zones, not a zone
        edits.UserChanges(name=" ", time_zone="Europe/Berlin"),
    )
    for changes in bad:
        with session_scope(runtime.engine) as session, pytest.raises(InvalidInput):
            edits.update_user(session, "alice", changes, now=T0, verified=True)
    with session_scope(runtime.engine) as session, pytest.raises(NotFound):
        edits.update_user(session, "nobody", edits.UserChanges(name="X"), now=T0, verified=True)
    with session_scope(runtime.engine, read_only=True) as session:
        alice = users.require_user(session, "alice")
        assert (alice.name, alice.time_zone) == ("Alice", None)


def test_update_replaces_removes_and_keeps_methods(runtime: Runtime) -> None:
    update(runtime, "alice", verified=True, voice="off", email="a@example.org", time_zone="Europe/Berlin")
    with session_scope(runtime.engine, read_only=True) as session:
        alice = users.require_user(session, "alice")
        methods = [(m.kind, m.address, m.verified) for m in users.contact_methods(session, alice)]
        assert alice.time_zone == "Europe/Berlin"
    assert methods == [("sms", "+15550000001", True), ("email", "a@example.org", True)]


def test_deactivating_someone_cancels_their_queued_steps_and_the_timeline_says_so(runtime: Runtime) -> None:
    alert_id = trigger(runtime)
    tick(runtime, T0)  # alice: sms now, voice in a minute
    set_active(runtime, "alice", False)
    tick(runtime, T0 + timedelta(minutes=1))
    assert who_was_paged(runtime, "voice") == []  # her 1-minute voice step never rings
    with session_scope(runtime.engine, read_only=True) as session:
        statuses = {row.method: row.status for row in session.exec(select(OutboxMessage))}
    assert statuses["voice"] == "cancelled"
    assert "page_cancelled: voice page of alice cancelled: alice was deactivated" in timeline(
        runtime, alert_id
    )
