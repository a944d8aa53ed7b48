"""A real `pager serve` (worker in-process), and a real `pager worker --metrics-port`, while one
host holds hundreds of connections open and sends nothing on them: the oldest denial of service
there is, and one request-free.

The server runs with a descriptor limit of 256 (RLIMIT_NOFILE), so its connection budget is 128 and
64 per client (pager.api.connection_limits). Without the limits, the 300 silent connections took
every descriptor: no other client could connect, and the worker in the same process could open no
socket to send the page. Other clients come from 127.0.0.2 (Linux routes all of 127/8 to loopback).
"""

from __future__ import annotations

import os
import select
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ANN, PagingSetup, wait_until
from tests.e2e.server_process import PRIMARY, Server, free_port, running_server
from tests.e2e.test_worker_e2e import trigger

pytestmark = [pytest.mark.e2e, pytest.mark.database]

OPEN_FILES = 256
PER_CLIENT = 64  # half of 256 less a quarter (at least 128) kept for the database, senders and files
SILENT = 300


@pytest.fixture
def server(e2e_database_url: str, tmp_path: Path) -> Iterator[Server]:
    with running_server(e2e_database_url, tmp_path, open_files=OPEN_FILES) as running:
        yield running


def trigger_from(server: Server, source: str, dedup_key: str) -> httpx.Response:
    event = {
        "routing_key": server.integration_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": f"checkout down ({dedup_key})", "source": "e2e", "severity": "critical"},
    }
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=10) as client:
        return client.post(f"{server.url}/v2/enqueue", json=event)


def answered(connections: list[socket.socket]) -> list[socket.socket]:
    """The connections the server has written to (or closed) so far."""
    readable, _, _ = select.select(connections, [], [], 0)
    return readable


def hold_silent_connections(held: ExitStack, port: int, pid: int) -> None:
    """SILENT connections to `port` that send nothing: all but PER_CLIENT are refused with 503, and
    the process `pid` keeps most of its descriptors."""
    silent = [
        held.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10)) for _ in range(SILENT)
    ]
    refused = wait_until(
        "the connections over the host's share refused",
        lambda: found if len(found := answered(silent)) >= SILENT - PER_CLIENT else None,
        timeout=15,
    )
    assert len(refused) == SILENT - PER_CLIENT
    assert all(c.recv(4096).startswith(b"HTTP/1.1 503 ") for c in refused)
    assert len(os.listdir(f"/proc/{pid}/fd")) < OPEN_FILES - 64


def test_a_host_holding_silent_connections_starves_neither_other_clients_nor_paging(server: Server) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with ExitStack() as held:
        hold_silent_connections(held, port, server.process.pid)

        response = trigger_from(server, "127.0.0.2", "while-held")
        assert response.status_code == 202, response.text
        sms = server.wait_for_sms(PRIMARY["sms"], timeout=10)
        assert "checkout down (while-held)" in sms["Body"]

    # The host's connections closed, it gets in again.
    assert trigger_from(server, "127.0.0.1", "after").status_code == 202
    refusal = "http_connections_refused client_full=1 last_client=127.0.0.1 open=64 limit=128 per_client=64"
    assert refusal in server.log()  # the first refusal logged at once, the next ones at most every 10 s


def test_silent_connections_to_a_workers_metrics_port_do_not_stop_its_pages(paging: PagingSetup) -> None:
    port = free_port()
    worker = paging.start_worker("--metrics-port", str(port), open_files=OPEN_FILES)
    paging.wait_ready(worker)
    wait_until("the metrics port", lambda: "health_server_started" in worker.log(), timeout=10)
    with ExitStack() as held:
        hold_silent_connections(held, port, worker.pid)
        alert_id, _ = trigger(paging)

        def sms_to_ann() -> bool:
            return any(
                r["method"] == "POST" and r["form"].get("To") == ANN["sms"] for r in paging.twilio.requests()
            )

        wait_until(f"alert {alert_id}'s SMS to ann", sms_to_ann, timeout=10)
    assert "http_connections_refused client_full=1" in worker.log()
