"""Heartbeat monitors through the real database on a fake clock: declared, beaten, missed, resolved.

A missed beat opens exactly one alert through the trigger path, in the same transaction that stops
the monitor's timer: two passes at one instant, two workers at once, and a worker killed in the
middle all leave one alert. The next beat resolves it, and its timeline says so.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, event
from sqlmodel import col, select

from pager.config.loader import LoadedConfig
from pager.db.session import SQLITE_BEGIN_OPTION, create_db_engine, session_scope
from pager.db.tables import Alert, HeartbeatMonitor, OutboxMessage, Service
from pager.services.alerting import alerts, catalog
from pager.services.heartbeat_monitors import missed
from pager.services.heartbeat_monitors.beats import UnknownMonitorKey, record_beat
from pager.services.heartbeat_monitors.listing import monitors_now
from pager.services.heartbeat_monitors.missed import raise_missed_beats
from pager.services.operations.backlog import next_decision_due
from pager.services.operations.config_watch import ConfigWatcher
from pager.services.operations.readiness import check_readiness
from pager.services.people import users
from pager.services.runtime import Runtime
from pager.worker import tick
from tests import support

pytestmark = pytest.mark.database

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
EVERY, GRACE = timedelta(hours=24), timedelta(minutes=30)
SCHEDULE = """\
    time_zone: UTC
    layers:
      - name: weekly
        members: [alice]
        start: 2026-01-05T09:00
        shift: 1w
    """
POLICY = """\
    levels:
      - notify: [schedule:team]
        escalate_after: 5m
    services:
      - id: backups
        name: Backups
        heartbeats:
          - {name: nightly-backup, every: 24h, grace: 30m}
          - {name: hourly-sync, every: 1h}
    """
PUBLIC = "https://pager.example.com/"


def declare(engine: Engine, root: Path, policy: str = POLICY, now: datetime = T0) -> Runtime:
    """A runtime on `policy`, its services and monitors synced (as a process does when it starts)."""
    built = support.console_runtime(
        engine, support.write_config(root, {"team": SCHEDULE}, {"main": policy}), public_url=PUBLIC
    )
    catalog.sync_declared_services(engine, built.config, now)
    return built


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    with session_scope(engine) as session:
        users.add_user(session, handle="alice", name="Alice", now=T0, sms="+15550000001")
    return declare(engine, tmp_path / "config")


def key_of(runtime: Runtime, name: str) -> str:
    with session_scope(runtime.engine, read_only=True) as session:
        row = session.exec(select(HeartbeatMonitor).where(HeartbeatMonitor.name == name)).one()
        return row.key


def monitor(runtime: Runtime, name: str) -> HeartbeatMonitor:
    with session_scope(runtime.engine, read_only=True) as session:
        return session.exec(select(HeartbeatMonitor).where(HeartbeatMonitor.name == name)).one()


def heartbeat_alerts(runtime: Runtime) -> list[Alert]:
    with session_scope(runtime.engine, read_only=True) as session:
        query = select(Alert).where(Alert.dedup_key == "heartbeat:nightly-backup").order_by(col(Alert.id))
        return list(session.exec(query))


def timeline(runtime: Runtime, alert_id: int) -> list[tuple[str, str]]:
    with session_scope(runtime.engine, read_only=True) as session:
        return [(e.kind, e.message) for e in alerts.alert_timeline(session, alert_id)]


def states(runtime: Runtime, now: datetime) -> dict[str, str]:
    return {m.name: m.state for m in monitors_now(runtime.engine, runtime.settings.public_url, now)}


def test_sync_creates_monitors_with_secret_urls_that_wait_for_their_first_beat(runtime: Runtime) -> None:
    views = monitors_now(runtime.engine, runtime.settings.public_url, T0)
    assert [(v.service, v.name, v.state, v.last_beat_at) for v in views] == [
        ("backups", "hourly-sync", "never", None),
        ("backups", "nightly-backup", "never", None),
    ]
    keys = {v.url.rsplit("/", 1)[1] for v in views}
    assert all(v.url.startswith("https://pager.example.com/heartbeat/") for v in views)
    assert len(keys) == 2 and all(len(k) >= 32 for k in keys)  # 192 random bits, URL-safe
    assert monitor(runtime, "hourly-sync").grace_seconds == 0
    # Never beaten: no timer, so no alert however long nothing comes.
    assert next_decision_due(runtime) is None
    assert raise_missed_beats(runtime, T0 + timedelta(days=30)) == 0
    assert heartbeat_alerts(runtime) == []


def test_healthy_then_late_raises_one_alert_and_the_next_beat_resolves_it(runtime: Runtime) -> None:
    key = key_of(runtime, "nightly-backup")
    beat = record_beat(runtime, key, T0)
    assert (beat.service_id, beat.name, beat.next_due_at, beat.resolved_alert_id) == (
        "backups",
        "nightly-backup",
        T0 + EVERY + GRACE,
        None,
    )
    assert next_decision_due(runtime) == T0 + EVERY + GRACE
    just_before = T0 + EVERY + GRACE - timedelta(seconds=1)
    assert states(runtime, just_before)["nightly-backup"] == "healthy"
    assert tick(runtime, just_before).escalated == 0
    assert heartbeat_alerts(runtime) == []

    due = T0 + EVERY + GRACE
    assert states(runtime, due)["nightly-backup"] == "late"
    assert tick(runtime, due).escalated == 1
    [alert] = heartbeat_alerts(runtime)
    assert (alert.service_id, alert.summary, alert.status, alert.source) == (
        "backups",
        "heartbeat nightly-backup missed",
        "triggered",
        "heartbeat",
    )
    assert alert.details["last_beat_at"] == T0.isoformat()
    with session_scope(runtime.engine, read_only=True) as session:  # paged like any alert
        pages = session.exec(select(OutboxMessage).where(OutboxMessage.alert_id == alert.id)).all()
    assert {p.address for p in pages} == {"+15550000001"}
    kinds = [kind for kind, _ in timeline(runtime, alert.id or 0)]
    assert kinds[0] == "triggered" and "heartbeat_missed" in kinds
    missed_line = dict(timeline(runtime, alert.id or 0))["heartbeat_missed"]
    assert "last beat 2026-11-23 02:00:00Z, expected every 1d with 30m grace" in missed_line
    stored = monitor(runtime, "nightly-backup")
    assert (stored.due_at, stored.missed_at) == (None, due)

    # Later passes raise nothing more: the timer stopped with the alert raised.
    assert raise_missed_beats(runtime, due + timedelta(hours=5)) == 0
    assert len(heartbeat_alerts(runtime)) == 1
    assert heartbeat_alerts(runtime)[0].event_count == 1
    assert states(runtime, due + timedelta(hours=5))["nightly-backup"] == "late"

    back = due + timedelta(hours=6)
    resolved = record_beat(runtime, key, back)
    assert resolved.resolved_alert_id == alert.id
    [alert] = heartbeat_alerts(runtime)
    assert alert.status == "resolved"
    lines = timeline(runtime, alert.id or 0)
    assert lines[-2] == (
        "heartbeat_beat",
        "heartbeat nightly-backup beat again at 2026-11-24 08:30:00Z: resolving this alert",
    )
    assert lines[-1][0] == "resolved"
    assert states(runtime, back)["nightly-backup"] == "healthy"
    assert next_decision_due(runtime) == back + EVERY + GRACE

    # The next miss opens a new alert (the resolved one freed the dedup key).
    assert raise_missed_beats(runtime, back + EVERY + GRACE) == 1
    assert [a.status for a in heartbeat_alerts(runtime)] == ["resolved", "triggered"]


def test_two_passes_at_the_same_instant_raise_one_alert(runtime: Runtime) -> None:
    record_beat(runtime, key_of(runtime, "nightly-backup"), T0)
    due = T0 + EVERY + GRACE
    assert raise_missed_beats(runtime, due) == 1
    assert raise_missed_beats(runtime, due) == 0
    assert [a.event_count for a in heartbeat_alerts(runtime)] == [1]


def test_two_workers_at_once_raise_one_alert(runtime: Runtime) -> None:
    record_beat(runtime, key_of(runtime, "nightly-backup"), T0)
    due = T0 + EVERY + GRACE
    second = support.console_runtime(
        create_db_engine(runtime.engine.url), runtime.config_dir, public_url=PUBLIC
    )  # another process's engine
    start = threading.Barrier(2)
    raised: list[int] = []

    def worker(own: Runtime) -> None:
        start.wait()
        raised.append(raise_missed_beats(own, due))

    threads = [threading.Thread(target=worker, args=(r,)) for r in (runtime, second)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        second.engine.dispose()
    assert sorted(raised) == [0, 1]
    assert len(heartbeat_alerts(runtime)) == 1
    assert heartbeat_alerts(runtime)[0].event_count == 1
    stored = monitor(runtime, "nightly-backup")
    assert (stored.due_at, stored.missed_at) == (None, due)  # stopped once, by the one that raised


def test_a_worker_killed_while_raising_leaves_the_miss_due_and_a_restart_raises_it_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_beat(runtime, key_of(runtime, "nightly-backup"), T0)
    due = T0 + EVERY + GRACE

    def killed(*_args: object) -> None:
        raise SystemExit("killed")  # not an Exception: nothing catches it, the transaction is rolled back

    monkeypatch.setattr(missed, "mark_missed", killed)
    with pytest.raises(SystemExit):
        raise_missed_beats(runtime, due)
    monkeypatch.undo()
    assert heartbeat_alerts(runtime) == []  # the alert went with the transaction
    assert monitor(runtime, "nightly-backup").due_at == due

    restarted = support.console_runtime(create_db_engine(runtime.engine.url), runtime.config_dir)
    try:
        assert next_decision_due(restarted) == due
        assert tick(restarted, due + timedelta(seconds=3)).escalated == 1
        assert raise_missed_beats(restarted, due + timedelta(seconds=4)) == 0
    finally:
        restarted.engine.dispose()
    assert len(heartbeat_alerts(runtime)) == 1


def test_a_miss_that_fails_is_retried_a_minute_later_without_stopping_the_others(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_beat(runtime, key_of(runtime, "nightly-backup"), T0)
    record_beat(runtime, key_of(runtime, "hourly-sync"), T0)
    real = missed.trigger_in_transaction

    def failing(session: object, rt: Runtime, request: alerts.TriggerRequest) -> object:
        if request.dedup_key == "heartbeat:hourly-sync":
            raise RuntimeError("boom")
        return real(session, rt, request)  # type: ignore[arg-type]

    monkeypatch.setattr(missed, "trigger_in_transaction", failing)
    due = T0 + EVERY + GRACE
    assert raise_missed_beats(runtime, due) == 1
    assert len(heartbeat_alerts(runtime)) == 1
    assert monitor(runtime, "hourly-sync").due_at == due + timedelta(minutes=1)


def test_an_unknown_key_is_refused_and_changes_nothing(runtime: Runtime) -> None:
    before = monitor(runtime, "nightly-backup")
    with pytest.raises(UnknownMonitorKey):
        record_beat(runtime, "not-a-key", T0)
    after = monitor(runtime, "nightly-backup")
    assert (after.last_beat_at, after.due_at, after.updated_at) == (None, None, before.updated_at)


def test_a_human_resolving_the_alert_first_leaves_the_beat_only_to_rearm(runtime: Runtime) -> None:
    key = key_of(runtime, "nightly-backup")
    record_beat(runtime, key, T0)
    due = T0 + EVERY + GRACE
    raise_missed_beats(runtime, due)
    [alert] = heartbeat_alerts(runtime)
    alerts.act_on_alert(runtime, alert.id or 0, "resolve", by="alice", now=due + timedelta(minutes=1))
    beat = record_beat(runtime, key, due + timedelta(minutes=2))
    assert beat.resolved_alert_id is None
    assert monitor(runtime, "nightly-backup").missed_at is None
    assert heartbeat_alerts(runtime)[0].resolved_by == "alice"


def test_changing_every_moves_the_timer_and_removing_a_monitor_retires_it(
    runtime: Runtime, tmp_path: Path
) -> None:
    key = key_of(runtime, "nightly-backup")
    record_beat(runtime, key, T0)
    declare(runtime.engine, tmp_path / "config", POLICY.replace("every: 24h, grace: 30m", "every: 2h"))
    assert monitor(runtime, "nightly-backup").due_at == T0 + timedelta(hours=2)

    raise_missed_beats(runtime, T0 + timedelta(hours=2))
    [alert] = heartbeat_alerts(runtime)
    removed = POLICY.replace("          - {name: nightly-backup, every: 24h, grace: 30m}\n", "")
    declare(runtime.engine, tmp_path / "config", removed, T0 + timedelta(hours=3))
    # Retired: its URL stops working, it is listed no more, its timer is gone; the open alert stays
    # open (a person resolves it) and its timeline says why no beat will.
    with pytest.raises(UnknownMonitorKey):
        record_beat(runtime, key, T0 + timedelta(hours=3))
    assert list(states(runtime, T0)) == ["hourly-sync"]
    assert monitor(runtime, "nightly-backup").due_at is None
    assert heartbeat_alerts(runtime)[0].status == "triggered"
    kind, message = timeline(runtime, alert.id or 0)[-1]
    assert kind == "heartbeat_retired" and "removed from the configuration" in message

    # Declared again: the same URL works, and its beat resolves the alert.
    declare(runtime.engine, tmp_path / "config", now=T0 + timedelta(hours=4))
    assert key_of(runtime, "nightly-backup") == key
    assert record_beat(runtime, key, T0 + timedelta(hours=5)).resolved_alert_id == alert.id


def test_a_pass_with_nothing_due_opens_no_write_transaction(runtime: Runtime) -> None:
    record_beat(runtime, key_of(runtime, "nightly-backup"), T0)
    modes: list[str] = []

    def on_begin(connection: Connection) -> None:
        modes.append(str(connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")))

    event.listen(runtime.engine, "begin", on_begin)
    try:
        assert raise_missed_beats(runtime, T0 + EVERY) == 0  # healthy: nothing due yet
    finally:
        event.remove(runtime.engine, "begin", on_begin)
    assert modes == ["DEFERRED"]  # the one read; the escalation loop runs this every pass


def test_readiness_counts_a_missed_beat_left_unraised_as_an_overdue_timer(runtime: Runtime) -> None:
    record_beat(runtime, key_of(runtime, "nightly-backup"), T0)
    due = T0 + EVERY + GRACE

    def timers(now: datetime) -> bool:
        return next(c.ok for c in check_readiness(runtime.engine, now).checks if c.name == "timers")

    assert timers(due + timedelta(seconds=10))
    assert not timers(due + timedelta(minutes=5))  # no worker raised it: /readyz says so
    raise_missed_beats(runtime, due + timedelta(minutes=5))
    assert timers(due + timedelta(minutes=5))


def test_a_live_reload_creates_and_retires_monitors_and_services_at_once(runtime: Runtime) -> None:
    policy = runtime.config_dir / "escalation_policies" / "main.yaml"
    changed = policy.read_text().replace(
        "      - {name: hourly-sync, every: 1h}\n",
        "  - id: billing\n    name: Billing\n    heartbeats:\n      - {name: invoices, every: 1h}\n",
    )
    assert changed != policy.read_text()
    watcher = ConfigWatcher(runtime, clock=lambda: T0 + timedelta(minutes=1))
    touch = policy.stat().st_mtime_ns + 1_000_000_000
    policy.write_text(changed)
    os.utime(policy, ns=(touch, touch))
    assert watcher.check_now() is True
    assert monitor(runtime, "hourly-sync").retired_at == T0 + timedelta(minutes=1)  # no more misses
    assert monitor(runtime, "invoices").retired_at is None
    with session_scope(runtime.engine, read_only=True) as session:
        assert session.get(Service, "billing") is not None  # its integration key exists now


def test_processes_syncing_the_same_new_rows_at_once_all_succeed(engine: Engine, tmp_path: Path) -> None:
    # `pager serve` and `pager worker` starting together both create the same new service and
    # monitor rows; the loser of the race syncs again instead of failing to start.
    for round_ in range(5):
        policy = POLICY.replace("id: backups", f"id: backups-{round_}")
        built = support.console_runtime(
            engine, support.write_config(tmp_path / f"config-{round_}", {"team": SCHEDULE}, {"main": policy})
        )
        start = threading.Barrier(3)

        def sync(config: LoadedConfig = built.config, start: threading.Barrier = start) -> None:
            start.wait()
            catalog.sync_declared_services(engine, config, T0)

        with ThreadPoolExecutor(3) as pool:
            for done in [pool.submit(sync) for _ in range(3)]:
                done.result()
    with session_scope(engine, read_only=True) as session:
        names = [row.name for row in session.exec(select(HeartbeatMonitor))]
    assert sorted(names) == sorted(["nightly-backup", "hourly-sync"] * 5)
