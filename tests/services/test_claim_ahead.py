"""Pages claimed ahead: a finishing sender takes the next claimed page without waiting for the
delivery loop, and one that waited too long for a sender is left for reconciliation, never sent twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

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


def test_a_page_claimed_ahead_that_waited_too_long_is_left_for_reconciliation_and_sent_once(
    runtime: Runtime, sms: HangingSms
) -> None:
    clock = [100.0]
    now = datetime.now(UTC)
    trigger_two(runtime, now)
    pump = DeliveryPump(runtime, senders=1, on_finished=lambda: None, monotonic=lambda: clock[0])
    assert pump.run(now) == 2
    wait_for_call(sms)  # the first call hangs; the second page waits for the one sender
    clock[0] += CLAIM_AHEAD_MAX_WAIT
    sms.release.set()
    assert pump.shutdown(now, timeout=10) == 0
    assert sms.calls == 1  # too late to start the second call inside the lease
    assert sorted(sms_statuses(runtime)) == ["sending", "sent"]
    later = now + timedelta(seconds=runtime.settings.sending_lease_seconds + 1)
    assert reconcile_uncertain(runtime, later) == 1  # the provider has no record of it
    assert run_due_deliveries(runtime, later) == 1
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
