"""Delivery failures on a fake clock, through the real twilio SDK against the in-repo fake Twilio.

docs/delivery.md: transient errors retried with backoff, permanent ones fall back to the next method at
once, unknown outcomes reconciled with the provider before anything is sent again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from pager.adapters.console import ConsoleNotifier
from pager.adapters.delivery import Method, Notifier
from pager.adapters.twilio_client import make_client
from pager.adapters.twilio_sms import TwilioSmsNotifier
from pager.adapters.twilio_voice import TwilioVoiceNotifier
from pager.db.outbox import ClaimedPage, due_outbox
from pager.db.session import is_postgres, session_scope
from pager.db.tables import OutboxMessage, TimelineEntry
from pager.services.alerting import alerts, catalog
from pager.services.delivery import claiming
from pager.services.delivery import pump as pump_module
from pager.services.delivery.pump import (
    AHEAD_PER_SENDER,
    CLAIM_GATHER,
    DECISIONS_FIRST_MAX,
    THROTTLED_GATHER,
    DeliveryPump,
)
from pager.services.people import users
from pager.services.phone.replies import handle_sms
from pager.services.runtime import Runtime
from pager.testing.fake_twilio import FakeTwilio, Fault
from pager.worker import _next_page_due, tick
from tests.services.test_engine import timeline, write_config
from tests.support import Clock, claim_due_outbox, console_runtime, statements_sent

pytestmark = pytest.mark.database

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SID, TOKEN, FROM = "AC" + "0" * 32, "test-token", "+15550009999"
ALICE_SMS, ALICE_VOICE = "+15550000001", "+15551000001"


@pytest.fixture
def clock() -> Clock:
    """The one fake clock shared by the engine's `now` and the fake Twilio's timestamps."""
    return Clock(T0)


@pytest.fixture
def fake(clock: Clock) -> Iterator[FakeTwilio]:
    with FakeTwilio(SID, TOKEN, clock=clock) as server:
        yield server


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path, fake: FakeTwilio) -> Runtime:
    # Short, as the hang faults wait it out, but not so short that a stall of this process turns an
    # answered call into an unknown one: at 0.5 s that happened once, late in a long run (the fake's
    # answer met a closed connection).
    client = make_client(SID, TOKEN, fake.base_url, timeout=2.0)
    twilio: dict[Method, Notifier] = {
        "sms": TwilioSmsNotifier(client, FROM, "https://pager.example.com/twilio/status"),
        "voice": TwilioVoiceNotifier(client, FROM, "https://pager.example.com"),
    }
    built = console_runtime(engine, write_config(tmp_path / "config"), twilio, sending_lease_seconds=30)
    with session_scope(engine) as session:
        users.add_user(session, handle="alice", name="Alice", now=T0, sms=ALICE_SMS, voice=ALICE_VOICE)
        users.add_user(session, handle="carol", name="Carol", now=T0, sms="+15550000003")
        catalog.sync_services(session, built.config, T0)
    return built


def run_at(runtime: Runtime, clock: Clock, seconds: float) -> None:
    clock.now = T0 + timedelta(seconds=seconds)
    tick(runtime, clock.now)


def posts(fake: FakeTwilio, resource: str) -> list[dict[str, str]]:
    return [r.form for r in fake.requests if r.method == "POST" and r.path.endswith(f"/{resource}.json")]


def outbox(runtime: Runtime, method: str) -> OutboxMessage:
    with session_scope(runtime.engine, read_only=True) as session:
        return session.exec(select(OutboxMessage).where(OutboxMessage.method == method)).one()


def trigger(runtime: Runtime) -> int:
    return alerts.trigger_alert(
        runtime, service_id="api", summary="Disk full", now=T0, dedup_key="d"
    ).alert_id


def trigger_many(runtime: Runtime, numbers: range, at: datetime = T0) -> None:
    """Alerts `disk <n>` (dedup key `k<n>`) on alice's service, each paging her."""
    for number in numbers:
        alerts.trigger_alert(
            runtime, service_id="api", summary=f"disk {number}", now=at, dedup_key=f"k{number}"
        )


def alert_ids_sent(fake: FakeTwilio, after: int) -> list[int]:
    """The alert ids of the SMS the fake received after the first `after` ("ALERT <id> api: …")."""
    return [int(m["body"].split()[1]) for m in fake.messages[after:]]


def test_500_twice_then_created_is_one_sms_and_three_attempts(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    fake.fail_next(Fault("server_error"), count=2)
    alert_id = trigger(runtime)
    run_at(runtime, clock, 0)  # attempt 1: 500, retry in 1 s
    run_at(runtime, clock, 0.5)  # not due yet
    run_at(runtime, clock, 1)  # attempt 2: 500, retry in 2 s
    run_at(runtime, clock, 3)  # attempt 3: created
    run_at(runtime, clock, 10)
    assert len(fake.messages) == 1
    assert len(posts(fake, "Messages")) == 3
    row = outbox(runtime, "sms")
    assert (row.status, row.attempts, row.provider_id) == ("sent", 3, fake.messages[0]["sid"])
    lines = timeline(runtime, alert_id)
    attempts = [line for line in lines if line.startswith("page_attempt: sms to alice")]
    assert [a.rsplit(" ", 1)[-1] for a in attempts] == ["1", "2", "3"]
    assert sum(line.startswith("page_retry: sms to alice failed") for line in lines) == 2
    assert any(line.startswith("page_sent: sms to alice sent") for line in lines)


def test_invalid_number_falls_back_to_voice_at_once(runtime: Runtime, fake: FakeTwilio, clock: Clock) -> None:
    fake.fail_to(ALICE_SMS, Fault("invalid_to"))
    alert_id = trigger(runtime)
    run_at(runtime, clock, 0)  # SMS: 21211 -> failed; the voice step (due at 1 min) is brought forward
    assert outbox(runtime, "sms").status == "failed"
    assert outbox(runtime, "voice").due_at == T0
    run_at(runtime, clock, 0)
    assert [c["To"] for c in posts(fake, "Calls")] == [ALICE_VOICE]
    assert len(posts(fake, "Messages")) == 1  # the failed SMS was not retried
    lines = timeline(runtime, alert_id)
    assert any(
        line.startswith("page_failed: sms to alice failed for good") and "21211" in line for line in lines
    )


def test_a_page_is_sent_and_failed_from_its_columns_never_from_its_key(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    fake.fail_to(ALICE_SMS, Fault("invalid_to"))
    alert_id = trigger(runtime)
    with session_scope(runtime.engine) as session:  # a key that says nothing of user, method or step
        row = session.exec(select(OutboxMessage).where(OutboxMessage.method == "sms")).one()
        row.idempotency_key = "hand-written"
    run_at(runtime, clock, 0)  # SMS: 21211 -> failed; the columns' step 0 falls back to voice
    assert outbox(runtime, "sms").status == "failed"
    assert outbox(runtime, "voice").due_at == T0
    lines = timeline(runtime, alert_id)
    assert "page_attempt: sms to alice (+15550000001): attempt 1" in lines
    assert any(line.startswith("delivery_failed: sms to alice failed") for line in lines)


def test_a_page_whose_method_no_notifier_has_is_failed_for_good_never_sent(
    runtime: Runtime, fake: FakeTwilio, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    alert_id = trigger(runtime)

    def claim_with_a_bad_method(*args: Any, **kwargs: Any) -> list[ClaimedPage]:
        # The table's CHECK refuses such a row: the claim is made to return one.
        pages = due_outbox(*args, **kwargs)
        return [replace(p, method="fax") if p.method == "sms" else p for p in pages]

    monkeypatch.setattr(claiming, "due_outbox", claim_with_a_bad_method)
    run_at(runtime, clock, 0)
    row = outbox(runtime, "sms")
    assert (row.status, row.last_error) == ("failed", "unknown method 'fax': not sent")
    assert (row.attempts, row.last_attempt_at) == (0, None)
    assert posts(fake, "Messages") == [] and posts(fake, "Calls") == []
    email = runtime.notifiers["email"]
    assert isinstance(email, ConsoleNotifier) and list(email.sent) == []
    line = "page_failed: fax to alice failed for good: unknown method 'fax': not sent"
    assert line in timeline(runtime, alert_id)
    run_at(runtime, clock, 10)
    assert outbox(runtime, "sms").status == "failed" and posts(fake, "Messages") == []


def test_unknown_outcome_that_reached_twilio_is_reconciled_not_resent(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    fake.fail_next(Fault("hang", record=True, delay=None))
    alert_id = trigger(runtime)
    run_at(runtime, clock, 0)  # times out after the request went out
    assert outbox(runtime, "sms").status == "unknown"
    run_at(runtime, clock, 1)  # reconcile: Twilio has it
    run_at(runtime, clock, 5)
    assert len(fake.messages) == 1
    assert len(posts(fake, "Messages")) == 1
    row = outbox(runtime, "sms")
    assert (row.status, row.provider_id) == ("sent", fake.messages[0]["sid"])
    assert any(
        line.startswith("page_reconciled: sms to alice: provider has it")
        for line in timeline(runtime, alert_id)
    )


def test_unknown_outcome_that_never_reached_twilio_is_sent_once(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    fake.fail_next(Fault("hang", record=False, delay=None))
    trigger(runtime)
    run_at(runtime, clock, 0)
    run_at(runtime, clock, 1)  # reconcile: no record -> pending again
    run_at(runtime, clock, 2)  # resent
    run_at(runtime, clock, 10)
    assert len(fake.messages) == 1
    assert outbox(runtime, "sms").status == "sent"


def test_a_worker_that_died_mid_send_is_reconciled_after_the_lease(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    trigger(runtime)
    with session_scope(runtime.engine) as session:  # a worker claims the SMS, sends it, then dies
        (claimed,) = [row for row in claim_due_outbox(session, T0) if row.method == "sms"]
        body = claimed.body
    make_client(SID, TOKEN, fake.base_url).messages.create(to=ALICE_SMS, from_=FROM, body=body)
    run_at(runtime, clock, 10)  # within the lease: left alone
    assert outbox(runtime, "sms").status == "sending"
    run_at(runtime, clock, 31)  # lease over: reconciled, found, not sent again
    assert len(posts(fake, "Messages")) == 1
    assert outbox(runtime, "sms").status == "sent"


def test_acknowledged_alert_is_not_resent_after_an_unknown_outcome(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    fake.fail_next(Fault("hang", record=False, delay=None))
    alert_id = trigger(runtime)
    run_at(runtime, clock, 0)
    alerts.act_on_alert(runtime, alert_id, "ack", by="alice", now=T0 + timedelta(seconds=0.5))
    run_at(runtime, clock, 1)
    run_at(runtime, clock, 5)
    assert fake.messages == []
    assert outbox(runtime, "sms").status == "cancelled"


def test_pages_to_one_number_are_throttled_not_dropped(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    trigger_many(runtime, range(25))
    run_at(runtime, clock, 0)
    assert len(fake.messages) == 20
    for second in (5, 30, 59):
        run_at(runtime, clock, second)
        assert len(fake.messages) == 20  # still inside the rolling minute
    with session_scope(runtime.engine, read_only=True) as session:
        waiting = session.exec(select(OutboxMessage).where(OutboxMessage.status == "pending")).all()
        deferred = session.exec(select(TimelineEntry).where(TimelineEntry.kind == "page_deferred")).all()
    # Deferred until the first of the 20 leaves the minute, not re-tried (and re-logged) every 5 s.
    sms = [m for m in waiting if m.method == "sms"]
    assert len(sms) == 5 and {m.next_attempt_at for m in sms} == {T0 + timedelta(minutes=1)}
    assert sorted(e.alert_id for e in deferred if "sms" in e.message) == sorted(m.alert_id for m in sms)
    run_at(runtime, clock, 60)
    assert len(fake.messages) == 25
    assert len({m["body"] for m in fake.messages}) == 25


def held_sms(runtime: Runtime) -> list[OutboxMessage]:
    with session_scope(runtime.engine, read_only=True) as session:
        query = select(OutboxMessage).where(OutboxMessage.method == "sms", OutboxMessage.status == "pending")
        return sorted(session.exec(query).all(), key=lambda m: m.id or 0)


def test_a_storm_to_one_number_waits_in_order_each_page_put_back_once_for_its_own_slot(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    """Held-back pages used to share one retry instant, so every freed slot claimed (and put back)
    the whole queue. Each now waits for the slot it will get, in the order it was held back."""
    for second in range(20):  # alice's limit, one page a second
        trigger_many(runtime, range(second, second + 1))
        run_at(runtime, clock, second)
    trigger_many(runtime, range(20, 45), clock.now)
    run_at(runtime, clock, 20)
    assert len(fake.messages) == 20
    held = held_sms(runtime)
    first_slots = [T0 + timedelta(seconds=60 + s) for s in range(20)]  # as the first 20 leave the minute
    second_slots = [T0 + timedelta(seconds=120 + s) for s in range(5)]  # as the first 5 of those leave
    assert [m.next_attempt_at for m in held] == first_slots + second_slots
    with session_scope(runtime.engine, read_only=True) as session:
        deferred = session.exec(select(TimelineEntry).where(TimelineEntry.kind == "page_deferred")).all()
    assert sorted(e.alert_id for e in deferred if "sms" in e.message) == sorted(m.alert_id for m in held)
    run_at(runtime, clock, 60)
    assert len(fake.messages) == 21
    untouched = [(m.id, m.next_attempt_at, m.attempts, m.updated_at) for m in held[1:]]
    assert [(m.id, m.next_attempt_at, m.attempts, m.updated_at) for m in held_sms(runtime)] == untouched
    for second in [*range(61, 80), *range(120, 125)]:
        run_at(runtime, clock, second)
    assert len(fake.messages) == 45 and held_sms(runtime) == []
    alert_ids = alert_ids_sent(fake, after=20)
    assert alert_ids == sorted(alert_ids)  # in the order they were held back


def test_a_held_page_that_finds_its_slot_taken_keeps_its_place_at_the_front(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    trigger_many(runtime, range(25))
    run_at(runtime, clock, 0)
    held = held_sms(runtime)
    assert [m.next_attempt_at for m in held] == [T0 + timedelta(minutes=1)] * 5
    # Another worker sends 20 pages to alice half a minute in: the slots the five expected are gone.
    at = T0 + timedelta(seconds=30)
    with session_scope(runtime.engine) as session:
        session.add_all(
            OutboxMessage(
                idempotency_key=f"other-{k}",
                method="sms",
                address=ALICE_SMS,
                body="other",
                user_handle="alice",
                cycle=1,
                loop=0,
                level=1,
                step=0,
                status="sent",
                due_at=at,
                attempts=1,
                last_attempt_at=at,
                created_at=at,
                updated_at=at,
            )
            for k in range(20)
        )
    # And 25 more alerts queue up behind the five: 20 for the slots those pages free, 5 a minute on.
    trigger_many(runtime, range(25, 50), at)
    run_at(runtime, clock, 59)
    queued = [m for m in held_sms(runtime) if m.id not in {h.id for h in held}]
    assert [m.next_attempt_at for m in queued] == [at + timedelta(minutes=1)] * 20 + [
        at + timedelta(minutes=2)
    ] * 5
    run_at(runtime, clock, 60)
    assert len(fake.messages) == 20
    # The five are held again until the window next has room, at the front, not behind the 25.
    again = {m.id: m.next_attempt_at for m in held_sms(runtime)}
    assert [again[m.id] for m in held] == [at + timedelta(minutes=1)] * 5
    run_at(runtime, clock, 90)
    sent = set(alert_ids_sent(fake, after=20))
    assert len(sent) == 20 and {m.alert_id for m in held} <= sent


def test_the_pump_claims_for_several_free_senders_at_once_while_calls_are_in_flight(
    runtime: Runtime,
) -> None:
    """One finished call among many in flight waits (up to CLAIM_GATHER) for company before a claim;
    with every slot free (a page per sender and AHEAD_PER_SENDER claimed ahead for each), or a
    quarter of them, it claims at once."""
    pump = DeliveryPump(runtime, senders=8, on_finished=lambda: None)
    slots = 8 * (1 + AHEAD_PER_SENDER)
    try:
        assert pump.claimable(T0) == slots and not pump.saturated  # all free: claim at once
        assert not pump.waiting
        pump._idle = 1  # the other pages in calls or queued, one slot free
        assert pump.saturated and pump.waiting
        assert pump.claimable(T0) == 1  # nothing claimed yet: no reason to wait
        pump._last_claim = T0
        assert pump.claimable(T0 + CLAIM_GATHER / 2) == 0
        assert pump.claimable(T0 + CLAIM_GATHER) == 1
        pump._idle = slots // 4  # a quarter of the slots free: claim for them together
        assert pump.claimable(T0) == slots // 4 and not pump.saturated
        pump._idle = 0
        assert pump.claimable(T0 + timedelta(minutes=1)) == 0 and pump.saturated
    finally:
        pump._idle = slots
        pump.shutdown(T0)


def test_claims_wait_while_a_burst_of_decisions_is_held_and_never_past_the_cap(
    runtime: Runtime, fake: FakeTwilio
) -> None:
    woken: list[str] = []
    pump = DeliveryPump(runtime, senders=8, on_finished=lambda: woken.append("wake"))
    try:
        trigger(runtime)  # one SMS due at T0
        pump.hold_claims(T0)
        assert pump.holding and pump.deciding(T0) and pump.run(T0) == 0 and woken == []
        assert pump.waiting  # held: neither the loop's due time nor a new page's wake claims
        pump.release_claims()  # the skipped run is owed: the loop is woken for it
        assert not pump.holding and not pump.deciding(T0) and woken == ["wake"]
        assert not pump.waiting
        pump.release_claims()  # nothing was skipped since: no second wake
        assert woken == ["wake"]

        pump.hold_claims(T0)
        assert pump.deciding(T0 + DECISIONS_FIRST_MAX - timedelta(milliseconds=1))
        assert pump.run(T0 + DECISIONS_FIRST_MAX - timedelta(milliseconds=1)) == 0
        assert not pump.deciding(T0 + DECISIONS_FIRST_MAX)  # the periodic jobs' yield ends there too
        assert pump.run(T0 + DECISIONS_FIRST_MAX) == 1  # the cap: sends go on even if never released
    finally:
        pump.shutdown(T0 + DECISIONS_FIRST_MAX)
    assert [m["To"] for m in posts(fake, "Messages")] == [ALICE_SMS]


def test_after_a_claim_that_could_send_nothing_new_pages_gather_before_the_next_claim(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    """A storm to one person: each trigger would otherwise wake a claim (a write transaction) only
    to put its page back. After such a claim new pages wait THROTTLED_GATHER, then go together."""
    trigger_many(runtime, range(20))
    run_at(runtime, clock, 0)
    assert len(fake.messages) == 20  # alice's limit for this minute
    at = T0 + timedelta(seconds=1)
    storm = alerts.trigger_alert(runtime, service_id="api", summary="disk 20", now=at, dedup_key="k20")
    pump = DeliveryPump(runtime, senders=8, on_finished=lambda: None)
    try:
        assert pump.run(at) == 0  # took alice's page and put it back: nothing to send
        assert pump.claims_resume_at() == at + THROTTLED_GATHER
        # Meanwhile carol is paged (a manual escalate: level 2 has nobody, so level 3 at once).
        alerts.act_on_alert(runtime, storm.alert_id, "escalate", by="test", now=at)
        soon = at + THROTTLED_GATHER / 2
        assert pump.run(soon) == 0  # gathering: carol's page waits, unclaimed
        assert outbox_to(runtime, "+15550000003").status == "pending"
        with statements_sent(runtime.engine) as sent:
            resume = _next_page_due(runtime, pump, soon)
        assert resume == at + THROTTLED_GATHER  # the loop sleeps, never spins
        assert sent == []  # nor asks the database what is due: each trigger of a storm wakes it
        assert pump.run(at + THROTTLED_GATHER) == 1  # carol's page, claimed once the gathering ends
        assert pump.claims_resume_at() is None  # it sent something: no more gathering
    finally:
        pump.shutdown(at + THROTTLED_GATHER)
    assert [m["To"] for m in posts(fake, "Messages")][20:] == ["+15550000003"]
    assert outbox_to(runtime, "+15550000003").status == "sent"


def pending_ready_at(runtime: Runtime) -> datetime:
    """The earliest instant a pending page may be sent, from the rows themselves."""
    with session_scope(runtime.engine, read_only=True) as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.status == "pending")).all()
    return min((row.next_attempt_at or row.due_at).replace(tzinfo=UTC) for row in rows)


def test_after_a_claim_the_loop_sleeps_until_the_next_due_page_without_asking_again(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    """The claim reads when the next pending page falls due, after its own writes (here: alice's
    page it held back for her slot a minute on). The delivery loop sleeps until then without a
    transaction of its own per pass; a pass that claimed nothing asks the database afresh."""
    trigger_many(runtime, range(20))
    run_at(runtime, clock, 0)
    assert len(fake.messages) == 20  # alice's limit for this minute
    at = T0 + timedelta(seconds=1)
    storm = alerts.trigger_alert(runtime, service_id="api", summary="disk 20", now=at, dedup_key="k20")
    alerts.act_on_alert(runtime, storm.alert_id, "escalate", by="test", now=at)  # carol: due now
    call_done = threading.Event()
    pump = DeliveryPump(runtime, senders=8, on_finished=call_done.set)
    later = at + timedelta(seconds=2)
    try:
        with statements_sent(runtime.engine) as sent:
            assert _next_page_due(runtime, pump, at) == at  # no pass yet: the database is asked
        assert sent, "no pass has read it: the loop must ask"
        assert pump.run(at) == 1  # carol's page sent; alice's held for her next slot
        assert pump.claims_resume_at() is None
        held_until = pending_ready_at(runtime)
        assert held_until > at
        with statements_sent(runtime.engine) as sent:
            assert _next_page_due(runtime, pump, at) == held_until
        assert sent == []  # the claim read it: no transaction of the loop's own
        # A page queued since (it wakes the loop); the next pass claims nothing (stopping): the
        # loop must not sleep on what the last claim read.
        alerts.trigger_alert(runtime, service_id="api", summary="disk 21", now=later, dedup_key="k21")
        pump.stop_claiming()
        assert call_done.wait(10)
        assert pump.run(later) == 1  # carol's outcome recorded, nothing claimed
        with statements_sent(runtime.engine) as sent:
            assert _next_page_due(runtime, pump, later) == pending_ready_at(runtime)
        assert sent
    finally:
        pump.shutdown(later)


def test_a_claim_that_finds_nothing_due_reads_once_and_takes_no_lock(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    """Most passes of the delivery loop find nothing due (the other worker took the page, or the
    pass only recorded outcomes): one read says so and when the next page falls due, without the
    claim lock or the due rows. At that instant what fell due is claimed."""
    trigger_many(runtime, range(21))
    run_at(runtime, clock, 0)  # 20 sent; alice's 21st page held for her next slot
    held_until = pending_ready_at(runtime)
    assert held_until > T0
    with statements_sent(runtime.engine, leave_out=("BEGIN", "COMMIT", "ROLLBACK")) as sent:
        assert claiming.claim(runtime, held_until - timedelta(microseconds=1), 10) == ([], 0, held_until)
    assert len(sent) == 1, sent
    attempts, put_back, _ = claiming.claim(runtime, held_until, 10)
    assert len(attempts) + put_back > 0  # what fell due then was claimed (sent or held again)


def test_a_pass_that_records_outcomes_claims_only_when_a_page_is_due_by_then(
    runtime: Runtime, fake: FakeTwilio, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recording outcomes reads, after its own writes, when the next pending page falls due: the
    pass claims only if one is due by then (a fallback the recording queued is), and the loop sleeps
    on that read. Under a steady trickle the pass after each send found nothing due in a
    transaction of its own."""
    claims: list[bool] = []  # each claim's `due_known`
    claim = pump_module.claim

    def counted(runtime: Runtime, now: datetime, batch: int, *, due_known: bool = False) -> claiming.Claim:
        claims.append(due_known)
        return claim(runtime, now, batch, due_known=due_known)

    monkeypatch.setattr(pump_module, "claim", counted)
    fake.fail_next(Fault("invalid_to"))  # alice's first SMS only
    trigger(runtime)
    call_done = threading.Event()
    pump = DeliveryPump(runtime, senders=8, on_finished=call_done.set)

    def next_pass() -> int:
        assert call_done.wait(10)
        call_done.clear()
        return pump.run(T0)

    # On Postgres the pump's probe has read that the SMS is due (tests/services/test_pending_probe.py):
    # no look first.
    probed = is_postgres(runtime.engine)
    try:
        assert pump.run(T0) == 1 and claims == [probed]  # the SMS, to a sender
        # 21211: failed for good; the fallback brings her voice step forward to now, in the
        # recording's transaction, which then reads it as due: the same pass claims it, without
        # looking first.
        assert next_pass() == 2 and claims == [probed, True]
        assert outbox(runtime, "voice").status == "sending"
        # A second alert meanwhile: its SMS is due now, so the pass that records the call claims it.
        alerts.trigger_alert(runtime, service_id="api", summary="Disk 2", now=T0, dedup_key="d2")
        assert next_pass() == 2 and claims == [probed, True, True]
        # Its outcome recorded; the next page (that alert's voice step) is a minute away: no claim,
        # and the loop sleeps until then without asking.
        assert next_pass() == 1 and len(claims) == 3
        voice_step = pending_ready_at(runtime)
        assert voice_step == T0 + timedelta(minutes=1)
        with statements_sent(runtime.engine) as sent:
            assert _next_page_due(runtime, pump, T0) == voice_step
        assert sent == []
    finally:
        pump.shutdown(T0)
    assert [m["To"] for m in posts(fake, "Messages")] == [ALICE_SMS, ALICE_SMS]
    assert [c["To"] for c in posts(fake, "Calls")] == [ALICE_VOICE]


def test_a_claim_told_a_page_is_due_does_not_look_first_and_a_full_batch_reads_no_next_instant(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    """In a burst every pass records outcomes, having read that pages are due, then claims a full
    batch that leaves the senders busy: neither the claim's look first nor its read of the next due
    instant would be used. A full batch says `now` (more may be due); a short one reads."""
    trigger_many(runtime, range(3))
    with statements_sent(runtime.engine, leave_out=("BEGIN", "COMMIT", "ROLLBACK")) as looked:
        assert claiming.claim(runtime, T0 - timedelta(seconds=1), 10) == ([], 0, T0)
    (ready_sql,) = looked  # what the look first, and the read of the next due instant, send
    with statements_sent(runtime.engine) as sent:
        attempts, put_back, next_due = claiming.claim(runtime, T0, 2, due_known=True)
    assert (len(attempts), put_back, next_due) == (2, 0, T0)
    assert ready_sql not in sent
    with statements_sent(runtime.engine) as sent:
        attempts, put_back, next_due = claiming.claim(runtime, T0, 2)
    assert (len(attempts), put_back, next_due) == (1, 0, T0 + timedelta(minutes=1))  # the voice steps
    assert sent.count(ready_sql) == 2  # looked first, and read after its writes


def test_a_claim_writes_each_held_page_once(runtime: Runtime, fake: FakeTwilio, clock: Clock) -> None:
    """In a storm nearly every page claimed is held, and on SQLite the claim holds the one writer
    ingest needs: a held page is given its slot in one UPDATE, never marked `sending` and put back.
    It is stamped as tried: its person is being paged for that alert (the next test)."""
    trigger_many(runtime, range(20))
    run_at(runtime, clock, 0)
    at = T0 + timedelta(seconds=1)
    trigger_many(runtime, range(20, 26), at)
    with statements_sent(runtime.engine) as sent:
        attempts, held = claiming.claim_pages(runtime, at, 10)
    assert (attempts, held) == ([], 6)
    assert len([sql for sql in sent if sql.upper().startswith("UPDATE OUTBOX")]) == 1, sent
    rows = held_sms(runtime)
    assert [(m.status, m.attempts, m.last_attempt_at) for m in rows] == [("pending", 0, at)] * 6
    assert [m.next_attempt_at for m in rows] == [T0 + timedelta(minutes=1)] * 6


def test_a_person_whose_page_the_throttle_holds_may_act_on_that_alert_by_sms(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    """In a storm alice gets 20 texts a minute and the rest wait; she sees the others in the console
    and answers by SMS. She is being paged for them: her ACK of one still waiting works."""
    trigger_many(runtime, range(21))
    run_at(runtime, clock, 0)
    assert len(fake.messages) == 20
    (held,) = (m.alert_id for m in held_sms(runtime))
    assert held is not None
    reply = handle_sms(runtime, ALICE_SMS, f"ACK {held}", T0 + timedelta(seconds=5), message_sid="SM-held")
    assert reply is not None and "acknowledged" in reply.lower(), reply
    with session_scope(runtime.engine, read_only=True) as session:
        assert alerts.get_alert(session, held).status == "acknowledged"


def outbox_to(runtime: Runtime, address: str) -> OutboxMessage:
    with session_scope(runtime.engine, read_only=True) as session:
        return session.exec(select(OutboxMessage).where(OutboxMessage.address == address)).one()
