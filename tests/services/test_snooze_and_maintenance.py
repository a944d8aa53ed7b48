"""Snooze and maintenance windows on a fake clock, through the services and the real database.

`tick(runtime, now)` is the worker; a second runtime on the same database is a restarted worker.
Pages go to console notifiers, whose `sent` lists say exactly what left.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pager.db.session import session_scope
from pager.services.alerting import alerts, catalog
from pager.services.alerting.maintenance import end_window_now, list_windows, start_window, window_length
from pager.services.errors import Conflict, InvalidInput, NotFound
from pager.services.people import users
from pager.services.runtime import Runtime
from pager.worker import tick
from tests import support
from tests.services.test_engine import SCHEDULES, T0, alert_row, sent, timeline, trigger, who_was_paged

pytestmark = pytest.mark.database

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)

POLICIES = {
    "main": """\
        ack_timeout: 30m
        levels:
          - notify: [schedule:team]
            escalate_after: 5m
          - notify: [user:carol]
            escalate_after: 10m
        services:
          - {id: api, name: API}
          - id: nightly
            name: Nightly jobs
            maintenance:
              - {days: [sun], from: "02:00", to: "04:00", time_zone: Europe/Berlin}
        """,
}


def make_runtime(engine: Engine, config_dir: Path) -> Runtime:
    return support.console_runtime(engine, config_dir, public_url="https://pager.example.com")


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return support.write_config(tmp_path / "config", SCHEDULES, POLICIES)


@pytest.fixture
def runtime(engine: Engine, config_dir: Path) -> Iterator[Runtime]:
    built = make_runtime(engine, config_dir)
    with session_scope(engine) as session:
        for handle, number in (("alice", 1), ("bob", 2), ("carol", 3), ("dana", 4)):
            users.add_user(session, handle=handle, name=handle.title(), now=T0, sms=f"+1555000000{number}")
        catalog.sync_services(session, built.config, T0)
    yield built


def start(runtime: Runtime, length: timedelta, now: datetime = T0, service: str = "api") -> int:
    with session_scope(runtime.engine) as session:
        row = start_window(session, service, length, reason="db upgrade", by="erin", now=now)
    assert row.id is not None
    return row.id


# -- snooze ---------------------------------------------------------------------------------------------


def test_a_snoozed_alert_is_silent_and_paged_from_level_one_when_the_snooze_ends(
    runtime: Runtime, engine: Engine, config_dir: Path
) -> None:
    alert_id = trigger(runtime)
    tick(runtime, T0)
    assert who_was_paged(runtime) == ["alice"]
    outcome = alerts.act_on_alert(runtime, alert_id, "snooze", by="alice", now=T0 + MIN, minutes=30)
    assert outcome.outcome == "applied" and alert_row(runtime, alert_id).status == "acknowledged"
    tick(runtime, T0 + 20 * MIN)  # past level 1's 5 minutes and the 1-minute voice step: all silent
    assert who_was_paged(runtime) == ["alice"]

    # A worker restarted across the end pages exactly once: the end is the alert's stored timer.
    restarted = make_runtime(engine, config_dir)
    tick(restarted, T0 + 31 * MIN)
    tick(restarted, T0 + 31 * MIN)
    tick(runtime, T0 + 32 * MIN)
    keys = [key for _, _, key in sent(restarted) if ":sms:" in key]
    assert keys == [f"{alert_id}:c2:l1:v1:alice:sms:0"]
    row = alert_row(runtime, alert_id)
    assert (row.status, row.level, row.next_action_at) == ("triggered", 1, T0 + 36 * MIN)
    lines = timeline(runtime, alert_id)
    assert (
        "snoozed: snoozed by alice for 30m, until 2026-03-02T15:31:00+00:00; "
        "paging restarts from level 1 then unless resolved"
    ) in lines
    ended = lines.index("snooze_ended: snooze by alice ended; not resolved, so paging restarted from level 1")
    assert lines[ended + 1] == "level_paged: level 1 (loop 1) paged: alice"


def test_a_snoozed_alert_resolved_meanwhile_is_not_paged_again(runtime: Runtime) -> None:
    alert_id = trigger(runtime)
    tick(runtime, T0)
    alerts.act_on_alert(runtime, alert_id, "snooze", by="alice", now=T0 + MIN, minutes=30)
    alerts.act_on_alert(runtime, alert_id, "resolve", by="alice", now=T0 + 10 * MIN)
    tick(runtime, T0 + 40 * MIN)
    assert who_was_paged(runtime) == ["alice"] and alert_row(runtime, alert_id).status == "resolved"


@pytest.mark.parametrize("minutes", [0, -5, 1441, None])
def test_a_snooze_out_of_bounds_changes_nothing(runtime: Runtime, minutes: int | None) -> None:
    alert_id = trigger(runtime)
    before = timeline(runtime, alert_id)
    with pytest.raises(InvalidInput, match="snooze"):
        alerts.act_on_alert(runtime, alert_id, "snooze", by="alice", now=T0 + MIN, minutes=minutes)
    assert timeline(runtime, alert_id) == before and alert_row(runtime, alert_id).status == "triggered"


# -- maintenance windows ------------------------------------------------------------------------------------


def test_an_alert_opened_in_a_window_is_stored_suppressed_and_paged_once_when_it_ends(
    runtime: Runtime, engine: Engine, config_dir: Path
) -> None:
    window = start(runtime, HOUR)
    alert_id = trigger(runtime, T0 + 5 * MIN)
    trigger(runtime, T0 + 6 * MIN)  # a repeat: deduplicated, still held
    tick(runtime, T0 + 30 * MIN)
    row = alert_row(runtime, alert_id)
    assert (row.status, row.next_action_at, row.event_count) == ("suppressed", T0 + HOUR, 2)
    assert sent(runtime) == []
    assert timeline(runtime, alert_id)[:2] == [
        "triggered: triggered",
        f"suppressed: maintenance window {window} (db upgrade) holds this service until "
        "2026-03-02T16:00:00+00:00: suppressed, nobody paged",
    ]

    restarted = make_runtime(engine, config_dir)  # the end falls due in another worker
    tick(restarted, T0 + HOUR)
    tick(restarted, T0 + HOUR + timedelta(seconds=10))
    tick(runtime, T0 + HOUR + MIN)
    assert who_was_paged(restarted) == ["alice"] and who_was_paged(runtime) == []
    row = alert_row(runtime, alert_id)
    assert (row.status, row.level) == ("triggered", 1)
    assert f"hold_ended: maintenance window {window} (db upgrade) ended; paging starts at level 1" in (
        timeline(runtime, alert_id)
    )


def test_a_window_ended_early_pages_the_held_alert_at_once(runtime: Runtime) -> None:
    window = start(runtime, 2 * HOUR)
    held = trigger(runtime, T0 + MIN)
    other = trigger(runtime, T0 + 2 * MIN, service="nightly", key="n")  # not held by this window
    ended, released = end_window_now(runtime, window, by="erin", now=T0 + 10 * MIN)
    assert released == 1 and ended.end_at == T0 + 10 * MIN and ended.ended_by == "erin"
    assert alert_row(runtime, held).status == "triggered"
    assert alert_row(runtime, other).status == "triggered"
    tick(runtime, T0 + 10 * MIN)
    assert who_was_paged(runtime).count("alice") == 2  # the other alert's page and the released one's
    assert (
        f"hold_ended: maintenance window {window} (db upgrade) ended early by erin; paging starts at level 1"
        in timeline(runtime, held)
    )
    # After the end, a new alert pages at once; ending it twice is refused.
    assert alert_row(runtime, trigger(runtime, T0 + 11 * MIN, key="later")).status == "triggered"
    with pytest.raises(Conflict, match="already ended"):
        end_window_now(runtime, window, by="erin", now=T0 + 12 * MIN)
    with pytest.raises(NotFound, match="no maintenance window 999"):
        end_window_now(runtime, 999, by="erin", now=T0 + 12 * MIN)


def test_an_alert_resolved_during_the_window_is_never_paged(runtime: Runtime) -> None:
    start(runtime, HOUR)
    alert_id = trigger(runtime, T0 + MIN)
    alerts.act_on_alert(runtime, alert_id, "resolve", by="bob", now=T0 + 2 * MIN)
    tick(runtime, T0 + 2 * HOUR)
    assert sent(runtime) == [] and alert_row(runtime, alert_id).status == "resolved"
    assert alert_row(runtime, alert_id).next_action_at is None


def test_an_alert_open_before_the_window_keeps_paging(runtime: Runtime) -> None:
    alert_id = trigger(runtime)
    start(runtime, HOUR, now=T0 + MIN)
    tick(runtime, T0 + 5 * MIN)
    assert alert_row(runtime, alert_id).level == 2 and "carol" in who_was_paged(runtime)


@pytest.mark.parametrize(
    ("at", "until"),
    [
        (datetime(2026, 3, 22, 1, 30, tzinfo=UTC), datetime(2026, 3, 22, 3, 0, tzinfo=UTC)),  # 02:30 CET
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), datetime(2026, 3, 29, 2, 0, tzinfo=UTC)),  # 03:30 CEST
    ],
)
def test_a_recurring_window_holds_in_its_own_zone_across_a_dst_change(
    runtime: Runtime, at: datetime, until: datetime
) -> None:
    alert_id = trigger(runtime, at, service="nightly")
    row = alert_row(runtime, alert_id)
    assert (row.status, row.next_action_at) == ("suppressed", until)
    assert "recurring maintenance sun 02:00-04:00 Europe/Berlin" in timeline(runtime, alert_id)[1]
    tick(runtime, until - MIN)
    assert sent(runtime) == []
    tick(runtime, until)
    assert len(who_was_paged(runtime)) == 1 and alert_row(runtime, alert_id).status == "triggered"


def test_overlapping_windows_are_refused_and_back_to_back_ones_hold_as_one(runtime: Runtime) -> None:
    first = start(runtime, HOUR)
    with pytest.raises(Conflict, match=f"already in maintenance window {first}"):
        start(runtime, HOUR, now=T0 + 30 * MIN)
    with session_scope(runtime.engine) as session:  # a window starting where the first ends is fine
        later = start_window(session, "api", HOUR, reason="", by="erin", now=T0 + HOUR)
    alert_id = trigger(runtime, T0 + 10 * MIN)
    assert alert_row(runtime, alert_id).next_action_at == T0 + 2 * HOUR  # one hold through both
    assert later.id is not None
    with session_scope(runtime.engine, read_only=True) as session:
        assert [w.id for w in list_windows(session, now=T0, current_only=True)] == [later.id, first]


@pytest.mark.parametrize(
    ("service", "length", "error", "message"),
    [
        ("nope", "1h", NotFound, "no service 'nope'"),
        ("api", "2 hours", InvalidInput, "window length '2 hours'"),
        ("api", "0m", InvalidInput, "window length '0m'"),
        ("api", "31d", InvalidInput, "at most 30 days"),
        ("api", "9999999999999999999d", InvalidInput, "at most 30 days"),
    ],
)
def test_bad_windows_are_refused_and_change_nothing(
    runtime: Runtime, service: str, length: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message), session_scope(runtime.engine) as session:
        start_window(session, service, window_length(length), reason="", by="erin", now=T0)
    with session_scope(runtime.engine, read_only=True) as session:
        assert list_windows(session, now=T0, current_only=False) == []


def test_ending_the_later_of_two_touching_windows_releases_an_alert_named_after_the_first(
    runtime: Runtime,
) -> None:
    first = start(runtime, HOUR)
    second = start(runtime, HOUR, now=T0 + HOUR)  # starts where the first ends: one hold until T0+2h
    alert_id = trigger(runtime, T0 + 10 * MIN)
    assert alert_row(runtime, alert_id).next_action_at == T0 + 2 * HOUR
    assert f"maintenance window {first} (db upgrade) holds this service" in timeline(runtime, alert_id)[1]
    _, released = end_window_now(runtime, second, by="erin", now=T0 + 20 * MIN)
    # The first window still holds the service now, until its own end.
    assert released == 0
    row = alert_row(runtime, alert_id)
    assert (row.status, row.next_action_at) == ("suppressed", T0 + HOUR)
    assert timeline(runtime, alert_id)[-1] == (
        f"suppressed: maintenance window {second} (db upgrade) ended early by erin; "
        f"still held by maintenance window {first} (db upgrade) until 2026-03-02T16:00:00+00:00"
    )
    tick(runtime, T0 + HOUR)
    assert who_was_paged(runtime) == ["alice"] and alert_row(runtime, alert_id).status == "triggered"
