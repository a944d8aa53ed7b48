"""/readyz and /metrics of the app: readiness from the database's figures, gauges read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from pager.api.app import create_app
from pager.api.deps import get_now
from pager.db.session import create_db_engine
from pager.services.alerting import alerts
from pager.services.operations.heartbeat import Heartbeat
from pager.services.runtime import Runtime
from tests.api.test_ingest import API_KEY, T0, runtime  # noqa: F401 (the fixture)
from tests.support import Clock

pytestmark = pytest.mark.database


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:  # noqa: F811
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = lambda: T0
    with TestClient(app) as test_client:
        yield test_client


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_no_worker_anywhere_is_not_ready_in_the_one_error_shape(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["message"] == "not ready: worker"
    assert error["details"] == [
        {"check": "worker", "ok": False, "message": "no worker is running (no heartbeat)"}
    ]


def test_a_fresh_heartbeat_is_ready_and_lists_every_check(client: TestClient, runtime: Runtime) -> None:  # noqa: F811
    Heartbeat(runtime.engine, Clock(T0 - timedelta(seconds=3))).register()
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert [(c["check"], c["ok"]) for c in body["checks"]] == [
        ("database", True),
        ("worker", True),
        ("pages", True),
        ("timers", True),
    ]


def test_a_page_due_a_minute_ago_and_never_sent_is_not_ready(client: TestClient, runtime: Runtime) -> None:  # noqa: F811
    Heartbeat(runtime.engine, Clock(T0)).register()
    alerts.trigger_alert(
        runtime, service_id="api", summary="Disk", now=T0 - timedelta(minutes=1), dedup_key="d"
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    assert [d["check"] for d in response.json()["error"]["details"]] == ["pages"]


def test_metrics_carry_alerts_pages_outbox_and_ingest_figures(client: TestClient, runtime: Runtime) -> None:  # noqa: F811
    before = samples(client.get("/metrics").text).get(("pager_ingest_seconds_count", ()), 0.0)
    event = {
        "routing_key": API_KEY,
        "event_action": "trigger",
        "dedup_key": "disk",
        "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"},
    }
    assert client.post("/v2/enqueue", json=event).status_code == 202
    Heartbeat(runtime.engine, Clock(T0)).register()

    response = client.get("/metrics")
    assert response.status_code == 200
    found = samples(response.text)
    assert found[("pager_ingest_seconds_count", ())] == before + 1
    assert found[("pager_alerts", (("state", "triggered"),))] == 1
    assert found[("pager_alerts", (("state", "acknowledged"),))] == 0
    assert found[("pager_pages", (("method", "sms"), ("status", "pending")))] == 1
    pending = [
        v for (name, labels), v in found.items() if name == "pager_pages" and ("status", "pending") in labels
    ]
    assert found[("pager_outbox_depth", ())] == sum(pending) == 2  # her SMS and her email
    assert found[("pager_outbox_oldest_due_age_seconds", ())] > 0  # due at T0, scraped by the wall clock
    assert ("pager_worker_heartbeat_age_seconds", ()) in found
    assert ("pager_escalation_oldest_due_age_seconds", ()) in found
    assert ("pager_ready", ()) in found
    assert "pager_worker_loop_seconds" in response.text
    assert "process_cpu_seconds_total" in response.text or "python_info" in response.text


def test_a_database_that_does_not_answer_breaks_neither_metrics_nor_readyz(
    runtime: Runtime,  # noqa: F811
    tmp_path: Path,
) -> None:
    broken: Engine = create_db_engine(f"sqlite:///{tmp_path / 'missing' / 'pager.db'}")
    runtime.engine = broken
    app = create_app(runtime, run_worker=False)  # no lifespan: it would sync services into the database
    client = TestClient(app)
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    found = samples(metrics.text)
    assert found[("pager_ready", ())] == 0
    assert not any(name == "pager_alerts" for name, _ in found)
    assert "pager_escalation_lateness_seconds" in metrics.text  # the process's own metrics still there
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["error"]["details"] == [
        {"check": "database", "ok": False, "message": "database unreachable: OperationalError"}
    ]
