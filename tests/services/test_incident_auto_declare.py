"""Incidents declared from alerts by incidents.yaml rules, and later alerts attached, by the worker's
`incidents` job on a fake clock (docs/incidents.md, "Automatic declare")."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from pager.core.incident_model import IncidentRules
from pager.services.incidents.automatic import AutoDeclare, Cursor, declare_and_attach
from pager.services.incidents.changes import change_status
from pager.services.incidents.views import list_incidents
from pager.services.runtime import Runtime
from tests import support
from tests.services.incident_fixtures import (
    T0,
    declared,
    run,
    runtime,
    shown,
    snapshot,
    trigger,
    write_config,
)

__all__ = ["runtime"]

pytestmark = pytest.mark.database


def incidents(runtime: Runtime) -> list[dict[str, Any]]:
    return run(runtime, lambda s: list_incidents(s, runtime.config.incidents, drills=True))


def test_a_critical_alert_declares_and_a_later_alert_attaches(runtime: Runtime) -> None:
    job = AutoDeclare(runtime)
    first = trigger(runtime, "checkout-api", "5xx", T0)
    assert job.run(T0 + timedelta(seconds=2)) == 1
    [incident] = incidents(runtime)
    assert (incident["severity"], incident["declared_by"], incident["alerts"]) == (
        "SEV1",
        "rule:checkout-api",
        [first],
    )
    assert incident["title"] == "5xx broke" and incident["services"] == ["checkout-api"]
    assert job.run(T0 + timedelta(seconds=4)) == 0  # nothing new
    later = trigger(runtime, "checkout-api", "latency", T0 + timedelta(seconds=5), severity="warning")
    assert job.run(T0 + timedelta(seconds=6)) == 1
    doc = shown(runtime, incident["id"])
    assert doc["alerts"] == [first, later]
    assert doc["milestones"]["detected"] == T0.isoformat()
    texts = [line["text"] for line in doc["timeline"] if line["kind"] == "alert_linked"]
    assert texts[-1] == f"alert {later} (checkout-api: latency broke) attached: its service is affected"
    assert [line["kind"] for line in doc["timeline"]].count("alert.triggered") == 2
    assert len(incidents(runtime)) == 1


def test_two_workers_declare_once(runtime: Runtime) -> None:
    trigger(runtime, "checkout-api", "5xx", T0)
    at = T0 + timedelta(seconds=2)
    assert AutoDeclare(runtime).run(at) + AutoDeclare(runtime).run(at) == 1
    assert len(incidents(runtime)) == 1


def test_alerts_no_rule_matches_open_nothing(runtime: Runtime) -> None:
    job = AutoDeclare(runtime)
    trigger(runtime, "checkout-api", "slow", T0, severity="warning")  # the rule asks for critical
    trigger(runtime, "search", "down", T0)  # no rule for search
    before = snapshot(runtime)
    assert job.run(T0 + timedelta(seconds=2)) == 0
    assert snapshot(runtime) == before


def test_alerts_on_a_service_of_an_open_incident_attach_until_it_resolves(runtime: Runtime) -> None:
    incident_id = declared(runtime, services=["search"], title="Search is slow")
    job = AutoDeclare(runtime)
    joined = trigger(runtime, "search", "p99", T0 + timedelta(seconds=1), severity="info")
    assert job.run(T0 + timedelta(seconds=2)) == 1
    assert shown(runtime, incident_id)["alerts"] == [joined]
    rules = runtime.config.incidents
    run(
        runtime,
        lambda s: change_status(
            s, rules, incident_id, "resolved", actor="bob", now=T0 + timedelta(seconds=3)
        ),
    )
    trigger(runtime, "search", "p99-again", T0 + timedelta(seconds=4))
    assert job.run(T0 + timedelta(seconds=5)) == 0
    assert shown(runtime, incident_id)["alerts"] == [joined]


def test_an_alert_a_settled_pass_has_seen_is_not_read_again(runtime: Runtime, statements: list[str]) -> None:
    job = AutoDeclare(runtime)
    seen = trigger(runtime, "checkout-api", "slow", T0 + timedelta(seconds=1), severity="warning")  # no rule
    assert job.run(T0 + timedelta(seconds=2)) == 0
    incident_id = declared(runtime, T0 + timedelta(seconds=5))  # now checkout-api is covered
    assert job.run(T0 + timedelta(seconds=10)) == 1  # within the overlap: the alert is read again
    assert shown(runtime, incident_id)["alerts"] == [seen]
    other = declared(runtime, T0 + timedelta(seconds=11), services=["search"])
    late = trigger(runtime, "search", "old-news", T0 + timedelta(seconds=11), severity="warning")
    assert job.run(T0 + timedelta(seconds=12)) == 1
    assert shown(runtime, other)["alerts"] == [late]
    bounds: list[Any] = []

    def candidates(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "FROM alerts" in statement and "incident_alerts" in statement:
            bounds.append(list(parameters.values()) if isinstance(parameters, dict) else list(parameters))

    event.listen(runtime.engine, "before_cursor_execute", candidates)
    try:
        statements.clear()
        assert job.run(T0 + timedelta(seconds=45)) == 0
    finally:
        event.remove(runtime.engine, "before_cursor_execute", candidates)
    assert len(statements) == 3, statements  # open incidents' services, the highest id, the candidates
    # A pass 30 s after one that saw alert `late` reads the alerts above that id only.
    [parameters] = bounds
    assert late in parameters


def test_alerts_from_before_the_first_look_back_are_left_alone(runtime: Runtime) -> None:
    trigger(runtime, "checkout-api", "old", T0)
    assert AutoDeclare(runtime).run(T0 + timedelta(hours=1)) == 0
    assert incidents(runtime) == []


@pytest.fixture
def quiet_runtime(engine: Engine, tmp_path: Path) -> Runtime:
    """No incidents.yaml: no declare rules."""
    return support.console_runtime(engine, write_config(tmp_path / "quiet", incidents=None))


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    with support.statements_sent(engine, leave_out=("BEGIN", "PRAGMA", "SET", "SHOW")) as seen:
        yield seen


def test_with_no_rule_and_no_open_incident_a_pass_is_one_query(
    quiet_runtime: Runtime, statements: list[str]
) -> None:
    assert quiet_runtime.config.incidents == IncidentRules()
    statements.clear()
    assert declare_and_attach(quiet_runtime, Cursor(T0), T0 + timedelta(seconds=2)).declared == 0
    assert len(statements) == 1, statements


def test_two_workers_at_the_same_instant_declare_once(runtime: Runtime) -> None:
    """Two passes racing (two worker processes): the second waits for the first, then attaches nothing."""
    trigger(runtime, "checkout-api", "5xx", T0)
    trigger(runtime, "checkout-api", "latency", T0, severity="warning")
    start = threading.Barrier(2)
    done: list[int] = []
    failures: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            done.append(AutoDeclare(runtime).run(T0 + timedelta(seconds=2)))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    assert sorted(done) == [0, 2]  # one declared and attached; the other found both linked
    [incident] = incidents(runtime)
    assert len(incident["alerts"]) == 2
