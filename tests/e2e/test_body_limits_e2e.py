"""A real `pager serve` process under oversized bodies: refused with 413, and never held in memory.

The server's memory is read from /proc/<pid>/status: its peak resident size (VmHWM, reset just
before the request through /proc/<pid>/clear_refs) may not grow by more than a few MB while a
150 MB body streams in, where holding the body would grow it by the body's size at least.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server_process import Server, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.database]

MB = 1024 * 1024
BODY_MB = 150
ALLOWED_GROWTH_KB = 8 * 1024


@pytest.fixture
def server(e2e_database_url: str, tmp_path: Path) -> Iterator[Server]:
    with running_server(e2e_database_url, tmp_path) as running:
        yield running


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of process `pid`, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def reset_peak(pid: int) -> None:
    """Make VmHWM start again from the current resident size (Linux >= 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class Streamed:
    """BODY_MB megabytes in 1 MB chunks, without a Content-Length; counts what was sent."""

    def __init__(self) -> None:
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        chunk = b"Body=" + b"x" * (MB - 5)
        for _ in range(BODY_MB):
            self.sent += len(chunk)
            yield chunk


def test_a_150_mb_body_is_refused_without_being_held(server: Server) -> None:
    pid = server.process.pid
    # One ordinary request first, so what a first request allocates is not counted below.
    assert httpx.post(f"{server.url}/twilio/sms", content=b"Body=a", timeout=10).status_code == 403
    time.sleep(0.2)
    before = memory_kb(pid)
    reset_peak(pid)
    body = Streamed()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "not-checked"}
    response = httpx.post(f"{server.url}/twilio/sms", content=body, headers=headers, timeout=60)
    after = memory_kb(pid)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    assert body.sent == BODY_MB * MB  # the whole body went out (and the server read it past the refusal)
    growth = {name: after[name] - before["VmRSS"] for name in ("VmRSS", "VmHWM")}
    assert growth["VmHWM"] < ALLOWED_GROWTH_KB, (before, after)
    assert growth["VmRSS"] < ALLOWED_GROWTH_KB, (before, after)
    # The server is still fine afterwards.
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
