"""Floods of /readyz and /metrics (no token needed) must not hold up a trigger (docs/operations.md,
"Health, readiness and metrics").

Both read the database. While their read is stuck (a listener on the engine holds every statement
naming `worker_heartbeats`, which both read first and the trigger path never does, until the test
lets it go: a slow or locked database), 50 requests for either took all 40 of the server's shared
worker threads and the database pool's connections, and a trigger waited behind them. Each route's
reads now run one at a time on a thread of their own, and the requests that arrive meanwhile share
that read's answer.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import pytest
from anyio import to_thread

from pager.services.runtime import Runtime
from tests.api.test_calendar_flood import clock, runtime, send_trigger, serve
from tests.e2e.conftest import wait_until
from tests.support import Clock, StuckReads

pytestmark = pytest.mark.database

__all__ = ["clock", "runtime"]  # the fixtures, shared with the feed flood's test

FLOOD = 50


@pytest.mark.parametrize("path", ["/readyz", "/metrics"])
def test_a_flood_of_health_requests_does_not_hold_up_a_trigger(
    runtime: Runtime, clock: Clock, path: str
) -> None:
    client, arrivals = serve(runtime, clock, path)
    with (
        client,
        ThreadPoolExecutor(max_workers=FLOOD + 1) as pool,
        StuckReads(runtime.engine, "worker_heartbeats") as reads,  # released first, when the block ends
    ):
        flood = [pool.submit(client.get, path) for _ in range(FLOOD)]
        wait_until("the flood to reach the app", lambda: arrivals.arrived == FLOOD, timeout=10)
        wait_until("a read to be stuck", lambda: reads.held == 1, timeout=10)
        send_trigger(pool, client, runtime, f"flood{path.replace('/', '-')}")
        assert reads.held == 1  # one read for the whole flood
        assert not any(request.done() for request in flood)

        reads.release()
        answers = [request.result(timeout=10) for request in flood]
    # No worker runs here, so /readyz says 503 not ready; every request got an answer.
    assert {answer.status_code for answer in answers} == ({503} if path == "/readyz" else {200})


def test_liveness_is_answered_while_every_shared_thread_is_taken(runtime: Runtime, clock: Clock) -> None:
    """A flood of sync routes on a slow database takes the server's shared worker threads; /healthz
    is answered on the event loop all the same (a liveness probe failing then would have the process
    restarted, with the triggers it holds, for a database problem)."""
    client, _ = serve(runtime, clock, "/healthz")
    with client:
        limiter = client.portal.call(to_thread.current_default_thread_limiter)
        borrowers = [object() for _ in range(int(limiter.total_tokens))]
        for borrower in borrowers:
            client.portal.call(limiter.acquire_on_behalf_of, borrower)
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                probe = pool.submit(client.get, "/healthz")
                try:
                    answer = probe.result(timeout=5)
                except FutureTimeout:
                    raise AssertionError("/healthz waited for a worker thread") from None
                finally:
                    for borrower in borrowers:
                        client.portal.call(limiter.release_on_behalf_of, borrower)
        finally:
            assert limiter.borrowed_tokens == 0
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
