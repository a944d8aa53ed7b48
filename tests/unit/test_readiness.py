"""The readiness decision from the figures read (pure: `now` passed in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pager.core.readiness import BEAT_STALE_AFTER, OVERDUE_AFTER, Figures, assess

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
FRESH = NOW - timedelta(seconds=1)


def failed(figures: Figures) -> dict[str, str]:
    return {check.name: check.message for check in assess(figures, NOW).failed}


def test_a_fresh_beat_with_nothing_overdue_is_ready_and_every_check_is_listed() -> None:
    readiness = assess(Figures(newest_beat=FRESH), NOW)
    assert readiness.ready
    assert [check.name for check in readiness.checks] == ["database", "worker", "pages", "timers"]
    assert all(check.ok for check in readiness.checks)


def test_a_beat_exactly_at_the_limit_is_still_ready_and_just_past_it_is_not() -> None:
    assert assess(Figures(newest_beat=NOW - BEAT_STALE_AFTER), NOW).ready
    stale = NOW - BEAT_STALE_AFTER - timedelta(milliseconds=100)
    assert failed(Figures(newest_beat=stale)) == {
        "worker": "no worker completed a loop in the last 15.0 s (newest 15.1 s ago)"
    }


def test_no_heartbeat_at_all_is_not_ready() -> None:
    assert failed(Figures()) == {"worker": "no worker is running (no heartbeat)"}


def test_a_page_overdue_beyond_the_limit_is_not_ready_though_the_worker_beats() -> None:
    assert assess(Figures(newest_beat=FRESH, oldest_due_page=NOW - OVERDUE_AFTER), NOW).ready
    late = NOW - OVERDUE_AFTER - timedelta(seconds=12)
    assert failed(Figures(newest_beat=FRESH, oldest_due_page=late)) == {
        "pages": "the oldest due page is 42.0 s overdue (limit 30.0 s)"
    }


def test_an_escalation_timer_overdue_beyond_the_limit_is_not_ready() -> None:
    late = NOW - timedelta(minutes=5)
    assert failed(Figures(newest_beat=FRESH, oldest_due_timer=late)) == {
        "timers": "the oldest due escalation timer is 300.0 s overdue (limit 30.0 s)"
    }


def test_work_due_in_the_future_is_not_overdue() -> None:
    later = NOW + timedelta(hours=1)
    assert assess(Figures(newest_beat=FRESH, oldest_due_page=later, oldest_due_timer=later), NOW).ready


def test_every_failed_check_is_reported_together() -> None:
    long_ago = NOW - timedelta(hours=1)
    figures = Figures(newest_beat=long_ago, oldest_due_page=long_ago, oldest_due_timer=long_ago)
    assert set(failed(figures)) == {"worker", "pages", "timers"}


def test_a_database_that_does_not_answer_is_the_only_check_made() -> None:
    readiness = assess(Figures(database_error="OperationalError"), NOW)
    assert not readiness.ready
    assert [(c.name, c.ok, c.message) for c in readiness.checks] == [
        ("database", False, "database unreachable: OperationalError")
    ]
