"""The engine on a fake clock: each rule of docs/escalation.md through the services and the database.

Time never passes by itself here: every call gets `now`, and `tick(runtime, now)` is the worker.
Pages go to console notifiers, whose `sent` lists say exactly what left.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine
from sqlmodel import col, select

from pager.adapters.console import ConsoleNotifier
from pager.core.page_text import email_subject
from pager.db.alerts import DueAlert
from pager.db.session import session_scope
from pager.db.tables import Alert, OutboxMessage
from pager.services.alerting import alerts, catalog, paging
from pager.services.alerting.escalation import BURST, PASS_FOLLOW_ON, run_due_escalations
from pager.services.calendars import overrides
from pager.services.operations.metrics import LatenessMeter, due_at
from pager.services.people import users
from pager.services.runtime import Runtime
from pager.worker import GC_YOUNG_THRESHOLD, Worker, tick
from tests import support

pytestmark = pytest.mark.database

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 09:00 America/Chicago: alice's weekly shift

SCHEDULES = {
    "team": """\
        time_zone: America/Chicago
        layers:
          - name: weekly
            members: [alice, bob]
            start: 2026-01-05T09:00
            shift: 1w
        """,
    # Someone only at night: nobody is on it at T0.
    "nights": """\
        time_zone: America/Chicago
        layers:
          - name: night
            members: [dana]
            start: 2026-01-05T22:00
            shift: 1d
            restrictions:
              - {days: [mon, tue, wed, thu, fri, sat, sun], from: "22:00", to: "06:00"}
        """,
}

POLICIES = {
    "main": """\
        repeat: 1
        ack_timeout: 30m
        levels:
          - notify: [schedule:team]
            escalate_after: 5m
          - notify: [schedule:nights]
            escalate_after: 5m
          - notify: [user:carol]
            escalate_after: 10m
        services:
          - {id: api, name: API}
        """,
    "empty": """\
        levels:
          - notify: [schedule:nights]
            escalate_after: 5m
        services:
          - {id: batch, name: Batch jobs}
        """,
}


def write_config(root: Path) -> Path:
    """This module's config: the `team` and `nights` schedules, the `main` and `empty` policies."""
    return support.write_config(root, SCHEDULES, POLICIES)


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Iterator[Runtime]:
    built = support.console_runtime(
        engine, write_config(tmp_path / "config"), public_url="https://pager.example.com"
    )
    with session_scope(engine) as session:
        for handle, number in (("alice", 1), ("bob", 2), ("carol", 3), ("dana", 4)):
            users.add_user(
                session,
                handle=handle,
                name=handle.title(),
                now=T0,
                sms=f"+1555000000{number}",
                voice=f"+1555100000{number}",
                email=f"{handle}@example.com",
            )
        catalog.sync_services(session, built.config, T0)
    yield built


def sent(runtime: Runtime) -> list[tuple[str, str, str]]:
    """(method, address, idempotency key) of everything the console notifiers sent, in order."""
    pages = []
    for method in ("sms", "voice", "email"):
        notifier = runtime.notifiers[method]  # type: ignore[index]
        assert isinstance(notifier, ConsoleNotifier)
        pages.extend((p.method, p.address, p.idempotency_key) for p in notifier.sent)
    return pages


def who_was_paged(runtime: Runtime, method: str = "sms") -> list[str]:
    return [key.split(":")[4] for m, _, key in sent(runtime) if m == method]


def timeline(runtime: Runtime, alert_id: int) -> list[str]:
    with session_scope(runtime.engine, read_only=True) as session:
        return [f"{e.kind}: {e.message}" for e in alerts.alert_timeline(session, alert_id)]


def alert_row(runtime: Runtime, alert_id: int) -> Alert:
    with session_scope(runtime.engine, read_only=True) as session:
        return alerts.get_alert(session, alert_id)


def trigger(runtime: Runtime, now: datetime = T0, service: str = "api", key: str = "k") -> int:
    return alerts.trigger_alert(
        runtime, service_id=service, summary="Error rate high", now=now, dedup_key=key
    ).alert_id


def test_level_one_is_paged_by_each_rule_step_at_its_time(runtime: Runtime) -> None:
    alert_id = trigger(runtime)
    tick(runtime, T0)
    assert sorted(sent(runtime)) == [
        ("email", "alice@example.com", f"{alert_id}:c1:l1:v1:alice:email:2"),
        ("sms", "+15550000001", f"{alert_id}:c1:l1:v1:alice:sms:0"),
    ]
    tick(runtime, T0 + timedelta(seconds=59))
    assert len(sent(runtime)) == 2  # voice waits for its 1-minute rule step
    tick(runtime, T0 + timedelta(minutes=1))
    assert ("voice", "+15551000001", f"{alert_id}:c1:l1:v1:alice:voice:1") in sent(runtime)
    assert "level_paged: level 1 (loop 1) paged: alice" in timeline(runtime, alert_id)


def test_an_email_page_keeps_its_subject_apart_from_its_body_and_goes_out_with_it(runtime: Runtime) -> None:
    alert_id = trigger(runtime)
    with session_scope(runtime.engine, read_only=True) as session:
        rows = {row.method: row for row in session.exec(select(OutboxMessage))}
    email, sms = rows["email"], rows["sms"]
    assert (email.user_handle, email.cycle, email.loop, email.level, email.step) == ("alice", 1, 1, 1, 2)
    assert (sms.user_handle, sms.cycle, sms.loop, sms.level, sms.step) == ("alice", 1, 1, 1, 0)
    assert email.subject == email_subject(alert_id, "api", "Error rate high")
    assert email.body.startswith(f"Alert {alert_id} for ") and email.subject not in email.body
    assert "\nAcknowledge: https://pager.example.com/" in email.body and "\nResolve: " in email.body
    assert sms.subject == "" and rows["voice"].subject == ""
    tick(runtime, T0)
    notifier = runtime.notifiers["email"]
    assert isinstance(notifier, ConsoleNotifier)
    [page] = notifier.sent
    assert (page.subject, page.body) == (email.subject, email.body)


def test_repeat_trigger_counts_into_the_open_alert_and_pages_nobody(runtime: Runtime) -> None:
    first = trigger(runtime)
    tick(runtime, T0)
    again = alerts.trigger_alert(
        runtime, service_id="api", summary="x", now=T0 + timedelta(seconds=30), dedup_key="k"
    )
    tick(runtime, T0 + timedelta(seconds=30))
    assert (again.alert_id, again.created, again.outcome) == (first, False, "deduplicated")
    assert alert_row(runtime, first).event_count == 2
    assert who_was_paged(runtime) == ["alice"]
    assert any(line.startswith("trigger_repeated") for line in timeline(runtime, first))


def test_empty_level_is_skipped_at_once_and_the_timeline_says_so(runtime: Runtime) -> None:
    alert_id = trigger(runtime)
    tick(runtime, T0)
    tick(runtime, T0 + timedelta(minutes=5))  # level 1 timed out; level 2 (nights) has nobody at 09:05
    assert who_was_paged(runtime) == ["alice", "carol"]
    carol_key = [key for _, _, key in sent(runtime) if ":carol:sms:" in key]
    assert carol_key == [f"{alert_id}:c1:l1:v3:carol:sms:0"]
    lines = timeline(runtime, alert_id)
    assert "level_skipped: no one on call at level 2 (loop 1); skipped" in lines
    assert alert_row(runtime, alert_id).next_action_at == T0 + timedelta(minutes=15)


def test_nobody_on_call_anywhere_keeps_the_alert_and_retries_every_minute(runtime: Runtime) -> None:
    alert_id = trigger(runtime, service="batch")
    tick(runtime, T0)
    row = alert_row(runtime, alert_id)
    assert (row.status, row.next_action_at) == ("triggered", T0 + timedelta(minutes=1))
    assert any(line.startswith("no_one_on_call") for line in timeline(runtime, alert_id))
    assert sent(runtime) == []
    with session_scope(runtime.engine) as session:
        overrides.add_override(
            session,
            runtime.config,
            schedule_id="nights",
            role="primary",
            user="bob",
            start=T0 + timedelta(seconds=90),
            end=T0 + timedelta(hours=1),
            now=T0,
        )
    tick(runtime, T0 + timedelta(minutes=1))
    assert sent(runtime) == []  # the override starts at 15:01:30
    tick(runtime, T0 + timedelta(minutes=2))
    assert who_was_paged(runtime) == ["bob"]


def test_ladder_loops_then_is_exhausted_and_the_alert_stays_triggered(runtime: Runtime) -> None:
    alert_id = trigger(runtime)
    for minute in (0, 5, 15, 20, 30):
        tick(runtime, T0 + timedelta(minutes=minute))
    # loop 1: alice (0), nights skipped, carol (5); loop 2: alice (15), carol (20); exhausted at 30.
    assert who_was_paged(runtime) == ["alice", "carol", "alice", "carol"]
    row = alert_row(runtime, alert_id)
    assert (row.status, row.loop, row.next_action_at) == ("triggered", 2, None)
    assert any(line.startswith("exhausted: escalation exhausted") for line in timeline(runtime, alert_id))


def test_ack_stops_escalation_and_cancels_pending_steps(runtime: Runtime) -> None:
    alert_id = trigger(runtime)
    tick(runtime, T0)
    outcome = alerts.act_on_alert(runtime, alert_id, "ack", by="alice", now=T0 + timedelta(seconds=20))
    assert outcome.outcome == "applied"
    for minute in (1, 5, 10, 29):
        tick(runtime, T0 + timedelta(minutes=minute))
    assert who_was_paged(runtime) == ["alice"]
    assert who_was_paged(runtime, "voice") == []  # the 1-minute voice step was cancelled
    with session_scope(runtime.engine, read_only=True) as session:
        voice = session.exec(select(OutboxMessage).where(OutboxMessage.method == "voice")).one()
    assert voice.status == "cancelled"
    second = alerts.act_on_alert(runtime, alert_id, "ack", by="bob", now=T0 + timedelta(minutes=2))
    assert second.outcome == "already_acknowledged"


def test_ack_timeout_retriggers_from_level_one_with_fresh_keys(runtime: Runtime) -> None:
    alert_id = trigger(runtime)
    tick(runtime, T0)
    alerts.act_on_alert(runtime, alert_id, "ack", by="alice", now=T0 + timedelta(minutes=1))
    tick(runtime, T0 + timedelta(minutes=31))  # ack_timeout 30m
    keys = [key for method, _, key in sent(runtime) if method == "sms"]
    assert keys == [f"{alert_id}:c1:l1:v1:alice:sms:0", f"{alert_id}:c2:l1:v1:alice:sms:0"]
    assert alert_row(runtime, alert_id).status == "triggered"


def test_resolve_is_final_and_a_later_trigger_opens_a_new_alert(runtime: Runtime) -> None:
    first = trigger(runtime)
    tick(runtime, T0)
    alerts.act_on_alert(runtime, first, "resolve", by="alice", now=T0 + timedelta(minutes=1))
    tick(runtime, T0 + timedelta(minutes=10))
    assert who_was_paged(runtime) == ["alice"]
    second = alerts.trigger_alert(
        runtime, service_id="api", summary="again", now=T0 + timedelta(minutes=11), dedup_key="k"
    )
    assert second.created and second.alert_id != first
    assert alert_row(runtime, first).status == "resolved"


def test_manual_escalate_pages_the_next_level_now(runtime: Runtime) -> None:
    alert_id = trigger(runtime)
    tick(runtime, T0)
    alerts.act_on_alert(runtime, alert_id, "escalate", by="alice", now=T0 + timedelta(minutes=1))
    tick(runtime, T0 + timedelta(minutes=1))
    assert who_was_paged(runtime) == ["alice", "carol"]


def test_a_user_without_contact_methods_is_on_the_timeline_not_silently_skipped(runtime: Runtime) -> None:
    with session_scope(runtime.engine) as session:
        users.add_user(session, handle="zed", name="Zed", now=T0)
        overrides.add_override(
            session,
            runtime.config,
            schedule_id="team",
            role="primary",
            user="zed",
            start=T0,
            end=T0 + timedelta(hours=1),
            now=T0,
        )
    alert_id = trigger(runtime)
    tick(runtime, T0)
    assert "cannot_page: cannot page zed: no contact methods" in timeline(runtime, alert_id)


def test_a_failing_decision_is_isolated_and_leaves_no_pages(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pager.engine")  # apply() only logs its decision at INFO
    failing = trigger(runtime, key="a")
    healthy = trigger(runtime, key="b")
    tick(runtime, T0)
    real_info = paging.log.info

    def fail_after_queueing(message: str, *args: object) -> None:
        # apply() logs its decision after it has queued the level's pages: fail right there.
        if message.startswith("alert_decided") and args and args[0] == failing:
            raise RuntimeError("injected failure")
        real_info(message, *args)

    monkeypatch.setattr(paging.log, "info", fail_after_queueing)
    tick(runtime, T0 + timedelta(minutes=5))  # level 3 (carol) is due for both

    with session_scope(runtime.engine, read_only=True) as session:
        keys = {row.idempotency_key for row in session.exec(select(OutboxMessage))}
    assert f"{healthy}:c1:l1:v3:carol:sms:0" in keys
    assert not any(key.startswith(f"{failing}:c1:l1:v3") for key in keys)
    row = alert_row(runtime, failing)
    assert (row.level, row.next_action_at) == (1, T0 + timedelta(minutes=6))
    assert "engine_error: internal error while escalating; retrying in 1m" in timeline(runtime, failing)


def test_a_burst_of_due_timers_is_decided_once_each_across_batches(runtime: Runtime) -> None:
    """More alerts due at once than several batches hold (on Postgres two batches run at once):
    each is decided exactly once, and the burst is reported once."""
    ids = [trigger(runtime, key=f"burst-{i}") for i in range(450)]
    tick(runtime, T0)
    bursts: list[str] = []
    due = T0 + timedelta(minutes=5)  # level 2 (nobody on nights) is skipped, level 3 pages carol
    decided = run_due_escalations(runtime, due, batch=100, on_burst=lambda: bursts.append("burst"))
    assert decided == len(ids) and bursts == ["burst"]
    assert run_due_escalations(runtime, due, batch=100, on_burst=lambda: bursts.append("again")) == 0
    with session_scope(runtime.engine, read_only=True) as session:
        keys = [k for k in session.exec(select(OutboxMessage.idempotency_key)) if ":v3:carol:sms" in k]
        levels = {a.level for a in session.exec(select(Alert))}
    assert sorted(keys) == sorted(f"{a}:c1:l1:v3:carol:sms:0" for a in ids) and levels == {3}
    assert all(timeline(runtime, a).count("level_paged: level 3 (loop 1) paged: carol") == 1 for a in ids[:5])


def test_with_a_clock_a_pass_follows_on_with_timers_that_came_due_during_it_for_a_second(
    runtime: Runtime,
) -> None:
    """A storm's timers come due over seconds: the worker's pass takes those that came due while it
    ran (on the facts it read once) instead of leaving each to a pass of its own, for up to
    PASS_FOLLOW_ON; without a clock every batch is decided at the pass's `now`."""
    offsets = [timedelta(milliseconds=300 * k) for k in range(10)]  # due 0, 0.3, ... 2.7 s apart
    ids = [trigger(runtime, T0 + offset, key=f"storm-{k}") for k, offset in enumerate(offsets)]
    tick(runtime, T0)
    due = T0 + timedelta(minutes=5)
    assert run_due_escalations(runtime, due) == 1  # no clock: only what was due at `now`
    calls = iter(range(1, 1000))
    lock = threading.Lock()

    def clock() -> datetime:  # 0.3 s on at each batch (on Postgres two batch threads share it)
        with lock:
            return due + timedelta(milliseconds=300 * next(calls))

    decided = run_due_escalations(runtime, due, clock=clock)
    levels = {alert_id: alert_row(runtime, alert_id).level for alert_id in ids}
    # Up to the batch whose clock read 1.2 s on (1.5 s for Postgres's second thread), none after.
    assert 4 <= decided <= 5 and timedelta(seconds=1) == PASS_FOLLOW_ON
    assert all(levels[a] == 3 for a in ids[:5]) and all(levels[a] == 1 for a in ids[6:])


def test_a_pass_keeping_up_with_a_storm_in_small_batches_reports_the_burst_once(runtime: Runtime) -> None:
    """A following-on pass takes a storm's timers a few at a time as they come due: the burst (which
    holds new page claims) is the pass's count of decisions reaching BURST, not one batch's size."""
    ids = [trigger(runtime, T0 + timedelta(milliseconds=10 * k), key=f"storm-{k}") for k in range(60)]
    tick(runtime, T0)
    due = T0 + timedelta(minutes=5)
    calls = iter(range(1, 1000))
    lock = threading.Lock()

    def clock() -> datetime:  # 50 ms on at each batch: about five timers come due per batch
        with lock:
            return due + timedelta(milliseconds=50 * next(calls))

    bursts: list[int] = []
    batches: list[int] = []
    decided = run_due_escalations(
        runtime,
        due,
        clock=clock,
        on_burst=lambda: bursts.append(len(batches)),
        on_decided=lambda alerts: batches.append(len(alerts)),
    )
    assert decided == len(ids) and max(batches) < BURST and sum(batches) == len(ids)
    assert len(bursts) == 1 and sum(batches[: bursts[0]]) >= BURST  # once, when 50 were decided


def test_on_decided_reports_each_batch_once_it_has_committed(runtime: Runtime) -> None:
    """The hook behind the lateness metric: every decided alert reported once, in a batch whose
    decisions another session can already read (its transaction has committed)."""
    ids = [trigger(runtime, key=f"hook-{i}") for i in range(250)]
    tick(runtime, T0)
    due = T0 + timedelta(minutes=5)
    batches: list[list[int]] = []
    committed: list[bool] = []

    def observe(decided: Sequence[DueAlert]) -> None:
        batch = [alert.id for alert in decided]
        batches.append(batch)
        with session_scope(runtime.engine, read_only=True) as session:
            levels = session.exec(select(Alert.level).where(col(Alert.id).in_(batch))).all()
        committed.append(set(levels) == {3})
        assert {due_at(alert) for alert in decided} == {due}  # what the metric measures from

    assert run_due_escalations(runtime, due, batch=100, on_decided=observe) == len(ids)
    assert sorted(a for batch in batches for a in batch) == sorted(ids)
    assert len(batches) >= 3 and all(committed)


def test_an_observer_that_fails_does_not_stop_the_engine(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    ids = [trigger(runtime, key=f"hook-{i}") for i in range(150)]
    tick(runtime, T0)

    def broken(_decided: Sequence[DueAlert]) -> None:
        raise RuntimeError("observer broke")

    with caplog.at_level(logging.ERROR, logger="pager.engine"):
        decided = run_due_escalations(runtime, T0 + timedelta(minutes=5), batch=100, on_decided=broken)
    assert decided == len(ids)
    assert {alert_row(runtime, a).level for a in ids} == {3}
    assert "on_decided_failed" in caplog.text


def test_the_lateness_metric_counts_each_decision_from_its_due_instant(runtime: Runtime) -> None:
    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    for i in range(3):
        trigger(runtime, key=f"late-{i}")
    tick(runtime, T0)
    due = T0 + timedelta(minutes=5)
    before = {
        name: sample(name)
        for name in (
            "pager_escalation_lateness_seconds_count",
            "pager_escalation_lateness_seconds_sum",
            "pager_escalation_decisions_total",
        )
    }
    meter = LatenessMeter(lambda: due + timedelta(seconds=2))  # the commit, as the worker's clock reads it
    run_due_escalations(runtime, due, on_decided=meter)
    assert (
        sample("pager_escalation_lateness_seconds_count") - before["pager_escalation_lateness_seconds_count"]
        == 3
    )
    assert (
        sample("pager_escalation_lateness_seconds_sum") - before["pager_escalation_lateness_seconds_sum"]
        == 6.0
    )
    assert sample("pager_escalation_decisions_total") - before["pager_escalation_decisions_total"] == 3


def test_a_running_worker_collects_garbage_less_often_and_restores_it_when_stopped(runtime: Runtime) -> None:
    """A burst of decisions allocates millions of short-lived objects: while a worker runs, young
    collections are rarer and what was loaded before it started is frozen out of the scans."""
    before = gc.get_threshold()
    worker = Worker(runtime, lambda: T0)
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while gc.get_freeze_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] >= GC_YOUNG_THRESHOLD > before[0]
    finally:
        worker.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_the_loader_reads_who_is_on_call_only_for_decisions_that_walk_the_ladder(runtime: Runtime) -> None:
    from pager.core.alert import Ack, Timer, Trigger
    from pager.core.paging_plan import AlertFacts
    from pager.core.policy import Target
    from pager.services.alerting.decision_facts import FactsCache, load_facts

    alert_id = trigger(runtime)
    row = alert_row(runtime, alert_id)
    opened = AlertFacts.of(alert_id, "api", row.summary, row.escalation_state)
    new = AlertFacts(alert_id + 1, "api", "new", None)
    with session_scope(runtime.engine, read_only=True) as session:
        acked = load_facts(session, runtime, T0, [(opened, Ack("alice")), (opened, Trigger())], FactsCache())
        walked = load_facts(session, runtime, T0, [(opened, Timer()), (new, Trigger())], FactsCache())
    assert acked.inputs.on_call == {} and acked.people == {}
    # Every target of the policy, with who it means at T0: alice's week, nobody at night, carol.
    assert walked.inputs.on_call == {
        Target("schedule", "team"): ("alice",),
        Target("schedule", "nights"): (),
        Target("user", "carol"): ("carol",),
    }
    assert set(walked.people) == {"alice", "carol"}
    assert [step.rule.method for step in walked.people["alice"].steps] == ["sms", "voice", "email"]
    assert walked.services["api"].policy_id == "main"


def test_an_override_stored_in_the_database_is_who_the_loader_says_is_on_call(runtime: Runtime) -> None:
    from pager.core.alert import Trigger
    from pager.core.paging_plan import AlertFacts
    from pager.core.policy import Target
    from pager.services.alerting.decision_facts import FactsCache, load_facts

    with session_scope(runtime.engine) as session:
        overrides.add_override(
            session, runtime.config, schedule_id="team", role="primary", user="bob",
            start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1), now=T0,
        )  # fmt: skip
        facts = load_facts(session, runtime, T0, [(AlertFacts(1, "api", "x", None), Trigger())], FactsCache())
    assert facts.inputs.on_call[Target("schedule", "team")] == ("bob",)
