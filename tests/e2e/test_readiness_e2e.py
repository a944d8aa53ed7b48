"""The worker proves it is alive, end to end: `pager serve --no-worker` beside `pager worker --metrics-port`.

Real processes on loopback and the suite's database (SQLite, or Postgres in CI's second pass):

- the server alone is not ready (no worker anywhere); once the worker runs, both /readyz answer 200;
- the worker's own /metrics carries the engine's metrics;
- SIGSTOP freezes the worker: the server's /readyz turns 503 (reason: worker) within 20 s, and
  SIGCONT brings it back to 200 within 20 s;
- SIGTERM ends the worker within its bounded shutdown and removes its heartbeat: 503 again;
- SIGTERM while Twilio hangs on a created SMS: the worker ends within its grace, not the SDK's
  timeout, the page stays `sending`, and the next worker reconciles it instead of resending.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pager.db.session import session_scope
from pager.services.alerting.alerts import alert_timeline
from pager.worker import SHUTDOWN_GRACE_SECONDS
from tests.e2e.conftest import (
    ANN,
    SENDING_LEASE_SECONDS,
    PagingSetup,
    clean_environment,
    pager_command,
    stop_process,
    wait_until,
)
from tests.e2e.server_process import SECRET_KEY, free_port
from tests.e2e.test_worker_e2e import evidence, expected_pages, outbox_row, trigger

pytestmark = [pytest.mark.e2e, pytest.mark.database]

TURNS_WITHIN = 20.0  # seconds for /readyz to follow a frozen or thawed worker
NEW_METRICS = (
    "pager_alerts",
    "pager_pages",
    "pager_outbox_depth",
    "pager_outbox_oldest_due_age_seconds",
    "pager_escalation_oldest_due_age_seconds",
    "pager_worker_heartbeat_age_seconds",
    "pager_ready",
    "pager_ingest_seconds",
    "pager_worker_loop_seconds",
)


def spawn(paging: PagingSetup, name: str, *args: str) -> subprocess.Popen[bytes]:
    env = clean_environment(
        PAGER_DATABASE_URL=paging.database_url,
        PAGER_CONFIG_DIR=str(paging.config_dir),
        PAGER_SECRET_KEY=SECRET_KEY,
    )
    with (paging.tmp_path / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            pager_command(*args), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=paging.tmp_path
        )


def status(url: str) -> int | None:
    """The status of GET `url` (None: nothing answered)."""
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return None


def turns(url: str, wanted: int, what: str, timeout: float = TURNS_WITHIN) -> httpx.Response:
    """Poll `url` until it answers `wanted`; that response."""
    wait_until(what, lambda: status(url) == wanted, timeout, interval=0.2)
    return httpx.get(url, timeout=2)


@pytest.fixture
def processes(paging: PagingSetup) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """(server URL, worker metrics URL, worker process); both stopped at the end, whatever happened."""
    server_url = f"http://127.0.0.1:{free_port()}"
    metrics_url = f"http://127.0.0.1:{free_port()}"
    server = spawn(paging, "serve", "serve", "--no-worker", "--port", server_url.rsplit(":", 1)[1])
    worker: subprocess.Popen[bytes] | None = None
    try:
        wait_until("the server", lambda: status(f"{server_url}/healthz") == 200, 30, interval=0.1)
        response = httpx.get(f"{server_url}/readyz", timeout=2)  # no worker anywhere: not ready
        assert response.status_code == 503, response.text
        assert [d["check"] for d in response.json()["error"]["details"]] == ["worker"]
        worker = spawn(paging, "worker", "worker", "--metrics-port", metrics_url.rsplit(":", 1)[1])
        yield server_url, metrics_url, worker
    finally:
        if worker is not None:
            if worker.poll() is None:
                os.kill(worker.pid, signal.SIGCONT)
            stop_process(worker)
        stop_process(server)


def log_of(paging: PagingSetup, name: str) -> str:
    return (paging.tmp_path / f"{name}.log").read_text(errors="replace")


def test_readiness_follows_a_frozen_worker_and_a_stopped_one(
    paging: PagingSetup, processes: tuple[str, str, subprocess.Popen[bytes]]
) -> None:
    server_url, metrics_url, worker = processes
    try:
        turns(f"{server_url}/readyz", 200, "the server's /readyz to be 200", timeout=30)
        ready = turns(f"{metrics_url}/readyz", 200, "the worker's own /readyz to be 200")
        assert ready.json()["status"] == "ready"
        metrics = httpx.get(f"{metrics_url}/metrics", timeout=5)
        assert metrics.status_code == 200
        missing = [name for name in NEW_METRICS if f"# TYPE {name} " not in metrics.text]
        assert missing == [], metrics.text

        os.kill(worker.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        not_ready = turns(f"{server_url}/readyz", 503, "the server's /readyz to turn 503 (worker frozen)")
        assert [d["check"] for d in not_ready.json()["error"]["details"]] == ["worker"]
        assert time.monotonic() - frozen_at > 10  # not before the heartbeat has really gone stale

        os.kill(worker.pid, signal.SIGCONT)
        turns(f"{server_url}/readyz", 200, "the server's /readyz to come back (worker thawed)")

        worker.terminate()
        stopped_at = time.monotonic()
        assert worker.wait(timeout=15) == 0
        assert time.monotonic() - stopped_at < 12
        gone = httpx.get(f"{server_url}/readyz", timeout=2)
        assert gone.status_code == 503
        assert gone.json()["error"]["details"][0]["message"] == "no worker is running (no heartbeat)"
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n--- worker ---\n{log_of(paging, 'worker')}") from None


def test_sigterm_during_a_hanging_send_ends_the_worker_in_time_and_the_page_is_reconciled_not_resent(
    paging: PagingSetup,
) -> None:
    # Twilio creates ann's SMS but never answers: the SDK would wait 10 s; the worker stops before.
    paging.twilio.hang_next_create_to(ANN["sms"])
    first = paging.start_worker()
    paging.wait_ready(first)
    alert_id, triggered_at = trigger(paging)
    body = expected_pages(alert_id)["level 1 sms"][2]

    def ann_sms_on_record() -> list[dict[str, Any]]:
        return [m for m in paging.twilio.messages() if m["to"] == ANN["sms"] and m["body"] == body]

    # (an empty list is "something" to wait_until: ask for a bool)
    wait_until("Twilio to create ann's SMS", lambda: len(ann_sms_on_record()) == 1, 3.0)
    first.process.terminate()
    stopped_at = time.monotonic()
    assert first.process.wait(timeout=15) == 0, first.log()
    took = time.monotonic() - stopped_at
    why = evidence(paging, alert_id, triggered_at)
    assert took < SHUTDOWN_GRACE_SECONDS + 1.5, f"stopping took {took:.1f}s{why}"
    assert "abandoned_sends=1" in first.log(), why
    assert outbox_row(paging, alert_id, "sms", ANN["sms"]).status == "sending", why

    paging.start_worker()  # the abandoned call is reconciled with Twilio, never sent a second time

    def reconciled() -> bool:
        with session_scope(paging.runtime.engine, read_only=True) as session:
            return any(e.kind == "page_reconciled" for e in alert_timeline(session, alert_id))

    wait_until("ann's SMS reconciled", reconciled, SENDING_LEASE_SECONDS + 8.0, interval=0.1)
    assert len(ann_sms_on_record()) == 1, evidence(paging, alert_id, triggered_at)
    row = outbox_row(paging, alert_id, "sms", ANN["sms"])
    assert (row.status, row.provider_id) == ("sent", ann_sms_on_record()[0]["sid"])
