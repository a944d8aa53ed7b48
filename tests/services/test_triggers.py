"""Writing triggers: one by one, grouped in one transaction (group commit), and through the batcher.

A group must store exactly what the same triggers store one by one, commit all of them before any is
answered, and never let one trigger's failure cost another its rows.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text, update
from sqlmodel import Session, col, select

from pager.db.migrate import upgrade_schema
from pager.db.session import create_db_engine, is_postgres, session_scope
from pager.db.tables import Alert, OutboxMessage, Service, TimelineEntry
from pager.services.alerting import alerts, catalog, trigger_batch
from pager.services.alerting.alerts import AlertOutcome, TriggerRequest, write_trigger, write_triggers
from pager.services.alerting.trigger_batch import TriggerBatcher
from pager.services.calendars.overrides import add_override
from pager.services.operations import wakeup
from pager.services.people import users
from pager.services.runtime import Runtime
from tests import support

pytestmark = pytest.mark.database

T0 = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
SCHEDULE = """\
    time_zone: UTC
    layers:
      - name: weekly
        members: [alice]
        start: 2026-01-05T09:00
        shift: 1w
    """
POLICIES = {
    "main": """\
        levels:
          - notify: [schedule:team, user:ghost]
            escalate_after: 5m
        services:
          - {id: api, name: API, runbook: "https://wiki.example.com/api"}
          - {id: checkout, name: Checkout}
        """,
    "gone": """\
        levels:
          - notify: [user:alice]
            escalate_after: 5m
        services:
          - {id: orphan, name: Orphan}
        """,
}
API_KEY = "A" * 32


def make_runtime(engine: Engine, config_root: Path) -> Runtime:
    built = support.console_runtime(engine, support.write_config(config_root, {"team": SCHEDULE}, POLICIES))
    with session_scope(engine) as session:
        users.add_user(session, handle="alice", name="Alice", now=T0, sms="+15550000001", email="a@x.io")
        catalog.sync_services(session, built.config, T0)
        session.execute(update(Service).where(col(Service.id) == "api").values(integration_key=API_KEY))
    del built.config.policies["gone"]  # `orphan` keeps its row: its alerts meet a missing policy
    return built


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    return make_runtime(engine, tmp_path / "config")


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[Runtime]:
    """A second, SQLite, database with the same setup: the one-by-one writes go there."""
    url = f"sqlite:///{tmp_path / 'reference.db'}"
    upgrade_schema(url)
    engine = create_db_engine(url)
    try:
        yield make_runtime(engine, tmp_path / "reference-config")
    finally:
        engine.dispose()


def requests() -> list[TriggerRequest]:
    """New alerts, repeats with and without details, another service, an unknown one, a missing policy."""
    specs: list[dict[str, Any]] = [
        {"service_id": "api", "dedup_key": "disk", "details": {"n": 1}},
        {"service_id": "api", "dedup_key": "disk", "details": {"n": 2}},
        {"service_id": "checkout", "dedup_key": "disk", "severity": "warning"},
        {"integration_key": API_KEY, "dedup_key": "cpu", "source": "web-1"},
        {"service_id": "nope", "dedup_key": "disk"},
        {"integration_key": "F" * 32, "dedup_key": "disk"},
        {"service_id": "orphan", "dedup_key": "o"},
        {"service_id": "api", "dedup_key": "disk"},
        {"service_id": "api", "dedup_key": "mem", "summary": "  Memory\n  low  "},
        {"integration_key": API_KEY, "dedup_key": "cpu", "details": {"again": True}},
    ]
    return [
        TriggerRequest.build(**{"summary": "Disk full on db-1", "now": T0 + timedelta(seconds=i), **spec})
        for i, spec in enumerate(specs)
    ]


def stored(runtime: Runtime) -> dict[str, list[dict[str, Any]]]:
    """Every alert, timeline line and page, as plain values (ack-link tokens are random: masked)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    with session_scope(runtime.engine, read_only=True) as session:
        for name, model in (("alerts", Alert), ("timeline", TimelineEntry), ("outbox", OutboxMessage)):
            found = session.exec(select(model).order_by(col(model.id))).all()  # type: ignore[attr-defined]
            rows[name] = [row.model_dump() for row in found]
    for page in rows["outbox"]:
        page["body"] = re.sub(r"/ack/\S+", "/ack/<token>", page["body"])
    return rows


def outcomes(results: Sequence[object]) -> list[tuple[int, str, bool, str] | None]:
    summary: list[tuple[int, str, bool, str] | None] = []
    for result in results:
        assert result is None or isinstance(result, AlertOutcome), result
        summary.append(
            None if result is None else (result.alert_id, result.dedup_key, result.created, result.outcome)
        )
    return summary


def test_a_group_stores_exactly_what_the_same_triggers_store_one_by_one(
    runtime: Runtime, reference: Runtime
) -> None:
    one_by_one = [write_trigger(reference, request) for request in requests()]
    grouped = write_triggers(runtime, requests())
    assert outcomes(grouped) == outcomes(one_by_one)
    assert outcomes(grouped)[:5] == [
        (1, "disk", True, "triggered"),
        (1, "disk", False, "deduplicated"),
        (2, "disk", True, "triggered"),
        (3, "cpu", True, "triggered"),
        None,
    ]
    assert stored(runtime) == stored(reference)
    alert = stored(runtime)["alerts"][0]
    assert (alert["event_count"], alert["details"]) == (3, {"n": 1, "last_event": {"n": 2}})
    kinds = [line["kind"] for line in stored(runtime)["timeline"]]
    assert {"triggered", "level_paged", "cannot_page", "trigger_repeated", "policy_missing"} <= set(kinds)


def storm() -> list[TriggerRequest]:
    """A storm repeats its keys: an alert opened before, one opened by the group, one whose policy is
    missing, each repeated with and without details."""
    specs: list[tuple[str, str, dict[str, Any] | None]] = [
        ("api", "disk", {"n": 1}),
        ("api", "new", None),
        ("api", "disk", None),
        ("checkout", "new", {"n": 2}),
        ("api", "new", {"n": 3}),
        ("orphan", "o", None),
        ("api", "disk", {"n": 4}),
        ("orphan", "o", {"n": 5}),
        ("api", "disk", None),
    ]
    return [
        TriggerRequest.build(
            service_id=service,
            summary=f"Storm {key}",
            now=T0 + timedelta(seconds=1 + i),
            dedup_key=key,
            **({"details": details} if details else {}),
        )
        for i, (service, key, details) in enumerate(specs)
    ]


def test_a_group_repeating_its_keys_stores_exactly_what_one_by_one_stores(
    runtime: Runtime, reference: Runtime
) -> None:
    for target in (runtime, reference):
        opened = TriggerRequest.build(
            service_id="api", summary="Disk", now=T0, dedup_key="disk", details={"n": 0}
        )
        assert write_trigger(target, opened) is not None
    one_by_one = [write_trigger(reference, request) for request in storm()]
    grouped = write_triggers(runtime, storm())
    assert outcomes(grouped) == outcomes(one_by_one)
    assert [outcome[2:] if outcome else None for outcome in outcomes(grouped)][:3] == [
        (False, "deduplicated"),
        (True, "triggered"),
        (False, "deduplicated"),
    ]
    assert stored(runtime) == stored(reference)
    disk = stored(runtime)["alerts"][0]
    assert (disk["event_count"], disk["details"]) == (5, {"n": 0, "last_event": {"n": 4}})
    repeated = [line for line in stored(runtime)["timeline"] if line["kind"] == "trigger_repeated"]
    assert len(repeated) == 5  # the orphan's repeat meets its missing policy: no decision, no line


def test_a_failing_trigger_costs_only_itself(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    good = requests()
    unstorable = TriggerRequest.build(
        service_id="api", summary="x", now=T0, dedup_key="bad", details={"not json": object()}
    )
    results = write_triggers(runtime, [good[0], unstorable, good[2]])
    assert isinstance(results[1], Exception)
    assert [outcome[1:] if outcome else None for outcome in outcomes([results[0], results[2]])] == [
        ("disk", True, "triggered"),
        ("disk", True, "triggered"),
    ]
    assert "trigger_group_failed triggers=3" in caplog.text
    rows = stored(runtime)
    assert [(a["service_id"], a["dedup_key"]) for a in rows["alerts"]] == [
        ("api", "disk"),
        ("checkout", "disk"),
    ]
    assert {page["alert_id"] for page in rows["outbox"]} == {a["id"] for a in rows["alerts"]}


def test_groups_with_the_same_keys_in_opposite_orders_never_deadlock(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """Two API processes given the same alerts in other orders (Alertmanager replicas in a storm):
    on Postgres their groups locked the alert rows crosswise, and one of them lost a second to the
    deadlock detector and was redone one by one. Both groups must go through whole."""
    keys = [f"storm-{i}" for i in range(10)]
    rounds = 8
    barrier = threading.Barrier(2)

    def storm(order: list[str]) -> list[Any]:
        results: list[Any] = []
        for _ in range(rounds):
            group = [TriggerRequest.build(service_id="api", summary="s", now=T0, dedup_key=k) for k in order]
            barrier.wait(timeout=30)
            results += write_triggers(runtime, group)
        return results

    with ThreadPoolExecutor(max_workers=2) as pool:
        forward, backward = pool.submit(storm, keys), pool.submit(storm, keys[::-1])
        results = forward.result(timeout=120) + backward.result(timeout=120)
    assert "trigger_group_failed" not in caplog.text
    assert not [result for result in results if isinstance(result, Exception)]
    rows = stored(runtime)["alerts"]
    assert sorted(a["dedup_key"] for a in rows) == sorted(keys)
    assert sum(a["event_count"] for a in rows) == 2 * rounds * len(keys)


def test_a_trigger_written_alone_refuses_a_blank_summary_or_an_unknown_severity() -> None:
    with pytest.raises(alerts.InvalidInput):
        TriggerRequest.build(service_id="api", summary=" \n ", now=T0)
    with pytest.raises(alerts.InvalidInput):
        TriggerRequest.build(service_id="api", summary="x", now=T0, severity="fatal")
    with pytest.raises(ValueError, match="exactly one"):
        TriggerRequest.build(service_id="api", integration_key=API_KEY, summary="x", now=T0)


# --- the batcher ------------------------------------------------------------------------------------


def test_concurrent_triggers_share_commits_and_each_is_answered_only_once_committed(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups: list[int] = []
    real_write_triggers = trigger_batch.write_triggers

    def recording_write_triggers(rt: Runtime, group: Sequence[TriggerRequest]) -> list[object]:
        groups.append(len(group))
        return real_write_triggers(rt, group)  # type: ignore[return-value]

    monkeypatch.setattr(trigger_batch, "write_triggers", recording_write_triggers)
    batcher = TriggerBatcher(runtime)

    async def trigger_and_look(request: TriggerRequest) -> tuple[AlertOutcome | None, bool]:
        outcome = await batcher.trigger(request)
        with session_scope(runtime.engine, read_only=True) as session:  # another connection
            visible = outcome is not None and session.get(Alert, outcome.alert_id) is not None
        return outcome, visible

    async def main() -> list[tuple[AlertOutcome | None, bool]]:
        return await asyncio.gather(*(trigger_and_look(request) for request in requests() * 3))

    answers = asyncio.run(main())
    assert [visible for outcome, visible in answers if outcome is not None] == [True] * 24
    assert sum(outcome is None for outcome, _ in answers) == 6
    with session_scope(runtime.engine, read_only=True) as session:
        disk = session.exec(select(Alert).where(Alert.dedup_key == "disk", Alert.service_id == "api")).one()
    assert disk.event_count == 9
    # Grouped on Postgres too: a trigger alone there was ~16 round trips, a group's later ones two
    # statements each (tests/services/test_trigger_statement_budget.py).
    assert sum(groups) == 30 and max(groups) > 1


def test_a_group_that_fails_whole_fails_its_requests_and_the_batcher_goes_on(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    batcher = TriggerBatcher(runtime)
    calls: list[int] = []
    real_write_triggers = trigger_batch.write_triggers

    def failing_once(rt: Runtime, group: Sequence[TriggerRequest]) -> list[object]:
        calls.append(len(group))
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return real_write_triggers(rt, group)  # type: ignore[return-value]

    monkeypatch.setattr(trigger_batch, "write_triggers", failing_once)

    async def main() -> list[object]:
        first = await asyncio.gather(*(batcher.trigger(r) for r in requests()[:2]), return_exceptions=True)
        later = await batcher.trigger(requests()[2])
        return [*first, later]

    first, second, later = asyncio.run(main())
    assert calls == [2, 1]  # both waiting requests went in the first group
    assert isinstance(first, RuntimeError) and isinstance(second, RuntimeError)
    assert outcomes([later]) == [(1, "disk", True, "triggered")]


HANDOFF = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # alice hands the weekly shift to bob
ROTATION = """\
    time_zone: UTC
    layers:
      - name: weekly
        members: [alice, bob]
        start: 2026-01-05T09:00
        shift: 1w
    """


def test_a_group_straddling_a_handoff_or_an_override_pages_whoever_holds_each_instant(
    engine: Engine, tmp_path: Path
) -> None:
    # A group reads who is on call once for the rest of its window when nobody changes hands inside
    # it (decision_facts._resolved); here the shift changes hands, and an override starts, between
    # triggers microseconds apart in one group, and the last trigger's instant is an earlier one.
    policy = {"main": POLICIES["main"].replace(", user:ghost", "")}
    runtime = support.console_runtime(
        engine, support.write_config(tmp_path / "config", {"team": ROTATION}, policy)
    )
    tiny = timedelta(microseconds=1)
    with session_scope(engine) as session:
        for n, handle in enumerate(("alice", "bob", "carol")):
            users.add_user(session, handle=handle, name=handle.title(), now=T0, sms=f"+1555000001{n}")
        catalog.sync_services(session, runtime.config, T0)
        add_override(
            session,
            runtime.config,
            schedule_id="team",
            role="primary",
            user="carol",
            start=HANDOFF + timedelta(seconds=1),
            end=HANDOFF + timedelta(hours=1),
            now=T0,
        )
    instants = [
        HANDOFF - timedelta(seconds=2),
        HANDOFF - tiny,
        HANDOFF,
        HANDOFF + tiny,
        HANDOFF + timedelta(seconds=1) - tiny,
        HANDOFF + timedelta(seconds=1),
        HANDOFF + timedelta(seconds=2),
        HANDOFF - timedelta(milliseconds=1),  # taken at the edge before the others, queued after them
    ]
    group = [
        TriggerRequest.build(service_id="api", summary="Disk", now=at, dedup_key=f"k{i}")
        for i, at in enumerate(instants)
    ]
    results = write_triggers(runtime, group)
    assert all(isinstance(result, AlertOutcome) and result.created for result in results)
    with session_scope(engine, read_only=True) as session:
        paged = dict(session.exec(select(OutboxMessage.alert_id, OutboxMessage.user_handle)).all())
    assert [paged[result.alert_id] for result in results if isinstance(result, AlertOutcome)] == [
        "alice",
        "alice",
        "bob",
        "bob",
        "bob",
        "carol",
        "carol",
        "alice",
    ]


# The worker's wake-up travels with the trigger's own transaction (Postgres: a NOTIFY in it).


def test_a_trigger_takes_one_connection_and_one_commit_its_wake_up_included(runtime: Runtime) -> None:
    # A NOTIFY after the commit took a second pool checkout (with its ping) and a transaction of its
    # own, with its own commit to disk, for every new alert.
    counted = {"checkout": 0, "commit": 0}

    def count(name: str) -> Any:
        def listener(*_: Any) -> None:
            counted[name] += 1

        return listener

    on_checkout, on_commit = count("checkout"), count("commit")
    event.listen(runtime.engine, "checkout", on_checkout)
    event.listen(runtime.engine, "commit", on_commit)
    try:
        single = write_trigger(runtime, TriggerRequest.build(service_id="api", summary="disk", now=T0))
        assert single is not None and single.created
        assert counted == {"checkout": 1, "commit": 1}
        group = [TriggerRequest.build(service_id="api", summary=f"disk {i}", now=T0) for i in range(3)]
        assert all(isinstance(r, AlertOutcome) and r.created for r in write_triggers(runtime, group))
        assert counted == {"checkout": 2, "commit": 2}
    finally:
        event.remove(runtime.engine, "checkout", on_checkout)
        event.remove(runtime.engine, "commit", on_commit)


def test_a_full_notify_queue_never_costs_a_trigger(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Postgres refuses to commit a NOTIFY once its queue is full (a listener stalled for days):
    # the trigger is written again without it, and the other processes woken after the commit.
    refused: list[str] = []
    sent_after: list[tuple[str | None, bool]] = []

    def queue_full(session: Session, channel: str, payload: str) -> None:
        refused.append(payload)
        session.connection().execute(
            text(
                "DO $$ BEGIN RAISE EXCEPTION 'too many notifications in the NOTIFY queue'"
                " USING ERRCODE = '54000'; END $$"
            )
        )

    def notify_after(_engine: Engine, topic: str | None = None, *, woken_here: bool = False) -> None:
        sent_after.append((topic, woken_here))

    monkeypatch.setattr(wakeup, "postgres_notify_on_commit", queue_full)
    monkeypatch.setattr(wakeup, "notify_worker", notify_after)
    for grouped in (False, True):
        refused.clear()
        sent_after.clear()
        requests = [TriggerRequest.build(service_id="api", summary="disk", now=T0) for _ in range(2)]
        results = write_triggers(runtime, requests) if grouped else [write_trigger(runtime, requests[0])]
        assert all(isinstance(r, AlertOutcome) and r.created for r in results), results
        if is_postgres(runtime.engine):
            assert refused and sent_after == [("delivery", True)] * len(results)
            assert "wake_on_commit_refused" in caplog.text
        else:  # SQLite wakes other processes by datagram after the commit, as before
            assert refused == [] and sent_after == [("delivery", True)]
    with session_scope(runtime.engine, read_only=True) as session:
        stored = session.exec(select(Alert.id)).all()
        pages = session.exec(select(OutboxMessage.alert_id)).all()
    assert len(stored) == 3 and set(pages) == set(stored)
