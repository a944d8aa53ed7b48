"""The pure rules of heartbeat monitors: states at an instant, the timer, what is a miss."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pager.core.heartbeat_monitors import (
    HeartbeatSpec,
    is_missed,
    missed_dedup_key,
    missed_summary,
    rearmed_due_at,
    state_at,
)

BEAT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
EVERY, GRACE = timedelta(hours=24), timedelta(minutes=30)


def test_states_follow_the_last_beat() -> None:
    assert state_at(None, EVERY, GRACE, BEAT + timedelta(days=90)) == "never"
    assert state_at(BEAT, EVERY, GRACE, BEAT + EVERY + GRACE - timedelta(microseconds=1)) == "healthy"
    assert state_at(BEAT, EVERY, GRACE, BEAT + EVERY + GRACE) == "late"
    # A raised miss stays late until a beat comes, even when `every` grew meanwhile.
    assert state_at(BEAT, EVERY * 10, GRACE, BEAT + EVERY + GRACE, missed=True) == "late"


def test_the_timer_is_armed_by_a_beat_and_stopped_while_a_miss_is_raised() -> None:
    assert rearmed_due_at(None, None, EVERY, GRACE) is None
    assert rearmed_due_at(BEAT, None, EVERY, GRACE) == BEAT + EVERY + GRACE
    assert rearmed_due_at(BEAT, BEAT + EVERY + GRACE, EVERY, GRACE) is None
    assert not is_missed(None, BEAT)
    assert not is_missed(BEAT + timedelta(seconds=1), BEAT)
    assert is_missed(BEAT, BEAT)


def test_the_alert_words_and_key() -> None:
    assert missed_summary("nightly-backup") == "heartbeat nightly-backup missed"
    assert missed_dedup_key("nightly-backup") == "heartbeat:nightly-backup"


@pytest.mark.parametrize(
    ("name", "every", "grace"),
    [("Nightly", EVERY, GRACE), ("a--b", EVERY, GRACE), ("ok", timedelta(0), GRACE), ("ok", EVERY, -GRACE)],
)
def test_a_spec_refuses_what_the_loader_would_refuse(name: str, every: timedelta, grace: timedelta) -> None:
    with pytest.raises(ValueError):
        HeartbeatSpec(name, every, grace)
