"""The worker proves it is alive, end to end: `pager serve --no-worker` beside `pager worker --metrics-port`.

Real processes on loopback and the suite's database (SQLite, or Postgres in CI's second pass):

- the server alone is not ready (no worker anywhere); once the worker runs, both /readyz answer 200;
- the worker's own /metrics carries the engine's metrics;
- SIGSTOP freezes the worker: the server's /readyz turns 503 (reason: worker) within 20 s, and
  SIGCONT brings it back to 200 within 20 s;
- SIGTERM ends the worker within its bounded shutdown and removes its heartbeat: 503 again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import PagingSetup, clean_environment, pager_command, stop_process, wait_until
from tests.e2e.server_process import SECRET_KEY, free_port

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
