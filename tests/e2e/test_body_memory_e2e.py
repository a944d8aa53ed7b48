"""A real `pager serve` (worker in-process) while one host opens hundreds of connections, each
declaring a body of 512 KB (the most /v2/enqueue takes), sends most of it and stalls.

Each request alone was within its cap, and together they were not: 3,000 of them took the demo from
124 MB to 1.7 GB, and enough of them would have the kernel kill the process (and the worker in it).
Now the bytes of bodies held at once are capped (pager.api.body_limits.BodyMemory: 64 MB, half of
it per client, the first 64 KB of each body free): the host gets 73 bodies held and 503 for the
rest, another host's triggers are taken and paged meanwhile, and the memory is free again once the
host's connections close. Other clients come from 127.0.0.2 (Linux routes all of 127/8 to loopback).
"""

from __future__ import annotations

import json
import select
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from pager.api.body_limits import BODY_MEMORY_BYTES, FREE_BODY_BYTES
from pager.services.ingest.payloads import MAX_BODY_BYTES
from tests.e2e.conftest import wait_until
from tests.e2e.server_process import PRIMARY, Server, running_server
from tests.e2e.test_connection_limits_e2e import answered, trigger_from

pytestmark = [pytest.mark.e2e, pytest.mark.database]

CONNECTIONS = 400
HELD = (BODY_MEMORY_BYTES // 2) // (MAX_BODY_BYTES - FREE_BODY_BYTES)  # 73: the host's half of the memory
UNSENT = 100  # bytes of each held body never sent


@pytest.fixture
def server(e2e_database_url: str, tmp_path: Path) -> Iterator[Server]:
    with running_server(e2e_database_url, tmp_path) as running:
        yield running


def big_event(server: Server, size: int) -> bytes:
    """A valid trigger of exactly `size` bytes (its custom details padded)."""
    event = {
        "routing_key": server.integration_key,
        "event_action": "trigger",
        "dedup_key": "big",
        "payload": {"summary": "big", "source": "e2e", "severity": "info", "custom_details": {"pad": ""}},
    }
    bare = len(json.dumps(event).encode())
    event["payload"]["custom_details"] = {"pad": "x" * (size - bare)}  # type: ignore[index]
    body = json.dumps(event).encode()
    assert len(body) == size
    return body


def head(size: int) -> bytes:
    return (
        f"POST /v2/enqueue HTTP/1.1\r\nHost: e2e\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


def test_a_host_sending_many_large_bodies_at_once_is_held_to_its_share_of_the_memory(server: Server) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    body = big_event(server, MAX_BODY_BYTES)
    rss_before = rss_mb(server.process.pid)
    with ExitStack() as held:
        connections = [
            held.enter_context(socket.create_connection(("127.0.0.1", port), timeout=10))
            for _ in range(CONNECTIONS)
        ]
        for connection in connections:
            connection.sendall(head(len(body)))
        refused = wait_until(
            "the bodies over the host's share refused",
            lambda: found if len(found := answered(connections)) >= CONNECTIONS - HELD else None,
            timeout=15,
        )
        assert len(refused) == CONNECTIONS - HELD
        answers = [c.recv(4096) for c in refused]
        # in the body /v2/enqueue answers every 503 with (PagerDuty's fields), with Retry-After
        assert all(a.startswith(b"HTTP/1.1 503 ") and b'"status":"unavailable"' in a for a in answers)
        assert all(b"retry-after: 1\r\n" in a and b"too many large request bodies" in a for a in answers)
        assert all(b"connection: close\r\n" in a for a in answers)  # what was buffered is freed at once
        waiting = [c for c in connections if c not in refused]
        for connection in waiting:  # all but the last bytes, then nothing
            connection.sendall(body[:-UNSENT])
        assert not select.select(waiting, [], [], 0.5)[0]  # held, unanswered

        grown = rss_mb(server.process.pid) - rss_before
        assert grown < 120, f"the server grew {grown:.0f} MB"  # 400 bodies of 512 KB would be 200 MB

        response = trigger_from(server, "127.0.0.2", "while-held")
        assert response.status_code == 202, response.text
        assert "checkout down (while-held)" in server.wait_for_sms(PRIMARY["sms"], timeout=10)["Body"]

    # The host's connections closed: its share is free, and a body as large is taken again.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as again:
        again.sendall(head(len(body)) + body)
        assert again.recv(4096).startswith(b"HTTP/1.1 202 ")
    refusal = (
        f"http_bodies_refused client_full=1 last_client=127.0.0.1 path=/v2/enqueue "
        f"held={HELD * (MAX_BODY_BYTES - FREE_BODY_BYTES)} limit={BODY_MEMORY_BYTES}"
    )
    assert refusal in server.log()
    # The held requests ended with their clients gone: one line each, no traceback.
    assert server.log().count("client_disconnected path=/v2/enqueue") == HELD
    assert "Exception in ASGI application" not in server.log()
