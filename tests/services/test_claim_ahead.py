"""Pages claimed ahead: a finishing sender takes the next claimed page without waiting for the
delivery loop, and one that waited too long for a sender is queued again at once, never sent twice."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from pager.db.session import session_scope
from pager.db.tables import TimelineEntry
from pager.services.alerting import alerts
from pager.services.delivery.pump import (
    AHEAD_PER_SENDER,
    AHEAD_WAIT_SECONDS,
    CLAIM_AHEAD_MAX_WAIT,
    DeliveryPump,
    run_due_deliveries,
)
from pager.services.delivery.reconciliation import reconcile_uncertain
from pager.services.runtime import Runtime
from tests.services import test_worker_shutdown as worker_shutdown
from tests.services.test_worker_shutdown import HangingSms, sms_statuses, wait_for_call

pytestmark = pytest.mark.database


# The same hanging SMS notifier and runtime as the shutdown tests.
sms = worker_shutdown.sms
runtime = worker_shutdown.runtime


def timeline_messages(runtime: Runtime) -> list[str]:
    with session_scope(runtime.engine, read_only=True) as session:
        return [entry.message for entry in session.exec(select(TimelineEntry))]


def trigger_two(runtime: Runtime, now: datetime) -> None:
    for key in ("a", "b"):
        alerts.trigger_alert(runtime, service_id="api", summary=f"disk {key}", now=now, dedup_key=key)


def test_a_sender_that_finishes_takes_the_next_claimed_page_without_waiting_for_the_loop(
    runtime: Runtime, sms: HangingSms
) -> None:
    sms.release.set()  # calls return at once
    now = datetime.now(UTC)
    trigger_two(runtime, now)
    pump = DeliveryPump(runtime, senders=1, on_finished=lambda: None)
    assert pump.run(now) == 2  # one page for the sender, one claimed ahead
    # No second run: the one sender sends both, then shutdown records them.
    assert pump.shutdown(now, timeout=10) == 0
    assert sms.calls == 2
    assert sms_statuses(runtime) == ["sent", "sent"]


def second_page_waited_too_long(runtime: Runtime, sms: HangingSms, now: datetime) -> DeliveryPump:
    """A one-sender pump whose first call hung while the page claimed ahead waited
    CLAIM_AHEAD_MAX_WAIT (its clock moved on); the call then returns."""
    clock = [100.0]
    trigger_two(runtime, now)
    pump = DeliveryPump(runtime, senders=1, on_finished=lambda: None, monotonic=lambda: clock[0])
    assert pump.run(now) == 2
    wait_for_call(sms)  # the first call hangs; the second page waits for the one sender
    clock[0] += CLAIM_AHEAD_MAX_WAIT
    sms.release.set()
    return pump


def test_a_page_claimed_ahead_that_waited_too_long_is_queued_again_at_once_and_sent_once(
    runtime: Runtime, sms: HangingSms
) -> None:
    now = datetime.now(UTC)
    pump = second_page_waited_too_long(runtime, sms, now)
    assert pump.shutdown(now, timeout=10) == 0
    assert sms.calls == 1  # too late to start the second call inside the lease
    # Never handed to the provider: pending again, due at once, not left for the lease to run out.
    assert sorted(sms_statuses(runtime)) == ["pending", "sent"]
    assert any("not sent, queued again" in line for line in timeline_messages(runtime))
    assert run_due_deliveries(runtime, now) == 1
    assert sms.calls == 2
    assert sms_statuses(runtime) == ["sent", "sent"]
    later = now + timedelta(seconds=runtime.settings.sending_lease_seconds + 1)
    assert reconcile_uncertain(runtime, later) == 0  # nothing left to reconcile


def test_a_running_pump_queues_again_a_page_no_sender_could_take_in_time(
    runtime: Runtime, sms: HangingSms
) -> None:
    now = datetime.now(UTC)
    pump = second_page_waited_too_long(runtime, sms, now)
    try:
        deadline = time.monotonic() + 10
        while sms_statuses(runtime) != ["sent", "sent"] and time.monotonic() < deadline:
            pump.run(now)  # records the sent page, puts the other back, claims it again, records it
            time.sleep(0.01)
    finally:
        pump.shutdown(now, timeout=10)
    assert sms.calls == 2
    assert sms_statuses(runtime) == ["sent", "sent"]
    assert sum("not sent, queued again" in line for line in timeline_messages(runtime)) == 1


def test_the_pass_that_puts_a_page_back_claims_it_again_at_once(runtime: Runtime, sms: HangingSms) -> None:
    """Recording the sent page reads when the next pending page falls due, but the page put back
    after that read is due at once: the same pass claims it, not a later one (or the tick)."""
    now = datetime.now(UTC)
    pump = second_page_waited_too_long(runtime, sms, now)
    try:
        deadline = time.monotonic() + 10
        while (pump._finished.empty() or pump._unstarted.empty()) and time.monotonic() < deadline:
            time.sleep(0.01)  # the first call's outcome, and the page no sender took in time
        assert pump.run(now) == 3  # one outcome recorded, one page put back, and claimed again
    finally:
        pump.shutdown(now, timeout=10)
    assert sms.calls == 2
    assert sms_statuses(runtime) == ["sent", "sent"]


def test_fewer_pages_are_claimed_ahead_while_provider_calls_are_slow(runtime: Runtime) -> None:
    """Pages claimed ahead wait for a sender about AHEAD_WAIT_SECONDS at most at the calls' pace."""
    pump = DeliveryPump(runtime, senders=2, on_finished=lambda: None)
    try:
        assert pump.claimable(datetime.now(UTC)) == 2 * (1 + AHEAD_PER_SENDER)  # fast, or no call yet
        pump._call_seconds = 2 * AHEAD_WAIT_SECONDS  # two senders: one call done per second
        assert pump.claimable(datetime.now(UTC)) == 2 + 1
        pump._call_seconds = 10.0  # calls time out: nothing claimed ahead
        assert pump.claimable(datetime.now(UTC)) == 2
    finally:
        pump.shutdown(datetime.now(UTC))
