"""The dead-man's switch pings a real HTTP server on 127.0.0.1 while the worker's loops are healthy."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pager.core.readiness import BEAT_STALE_AFTER
from pager.services.operations.deadman import DeadmanSwitch
from pager.services.runtime import Runtime
from pager.settings import Settings
from pager.worker import Worker
from tests.services.test_heartbeat import T0, StuckEscalations, runtime, stuck  # noqa: F401 (fixtures)
from tests.support import Clock

EVERY = 0.05  # seconds between pings in these tests (a minute in production)


class PingCounter:
    """An HTTP server on 127.0.0.1 counting GETs of /ping/<check>; answers `status`."""

    def __init__(self) -> None:
        self.count = 0
        self.paths: list[str] = []
        self.status = 200
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                counter.count += 1
                counter.paths.append(self.path)
                self.send_response(counter.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ping/secret-check-id"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> PingCounter:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def checker() -> Iterator[PingCounter]:
    with PingCounter() as server:
        yield server


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_a_ping_goes_while_healthy_and_none_while_not(checker: PingCounter) -> None:
    healthy = threading.Event()
    healthy.set()
    switch = DeadmanSwitch(checker.url, healthy.is_set, every=EVERY)
    assert switch.ping_if_healthy() and switch.ping_if_healthy()
    assert checker.count == 2 and set(checker.paths) == {"/ping/secret-check-id"}
    healthy.clear()
    assert not switch.ping_if_healthy()
    assert checker.count == 2
    healthy.set()
    assert switch.ping_if_healthy()
    assert checker.count == 3


def test_a_failing_checker_is_logged_never_raised_and_the_secret_path_is_not_logged(
    checker: PingCounter, caplog: pytest.LogCaptureFixture
) -> None:
    checker.status = 500
    switch = DeadmanSwitch(checker.url, lambda: True, every=EVERY)
    assert not switch.ping_if_healthy()
    nobody = DeadmanSwitch("http://127.0.0.1:9/ping", lambda: True, timeout=1.0)  # port 9: nobody listens
    assert not nobody.ping_if_healthy()
    assert "deadman_ping_failed" in caplog.text
    assert "secret-check-id" not in caplog.text
    checker.status = 200
    assert switch.ping_if_healthy()


def test_the_deadman_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="PAGER_DEADMAN_URL"):
        Settings(_env_file=None, deadman_url="file:///etc/passwd")  # type: ignore[call-arg]
    assert Settings(_env_file=None, deadman_url="").deadman_url is None  # type: ignore[call-arg]


@pytest.mark.database
def test_a_worker_pings_while_both_loops_pass_and_not_while_one_is_stuck(
    runtime: Runtime,  # noqa: F811 (the fixture)
    stuck: StuckEscalations,  # noqa: F811 (the fixture)
    checker: PingCounter,
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"deadman_url": checker.url})
    clock = Clock(T0)
    worker = Worker(runtime, clock, deadman_every=EVERY)
    thread = threading.Thread(target=worker.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        wait_for("pings from the worker", lambda: checker.count >= 3)
        wait_for("the escalation loop to be stuck", lambda: stuck.passes > 1)
        clock.now = T0 + BEAT_STALE_AFTER + timedelta(seconds=1)  # its last pass is now too old
        time.sleep(1.5)  # the delivery loop has completed passes at the new time meanwhile
        silenced = checker.count
        time.sleep(1.5)
        assert checker.count == silenced
        stuck.release.set()
        wait_for("pings again", lambda: checker.count > silenced)
    finally:
        stuck.release.set()
        worker.stop()
        thread.join(timeout=15)
    assert not thread.is_alive()
