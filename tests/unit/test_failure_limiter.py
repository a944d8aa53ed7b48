"""The per-client failure limiter (pager.api.failure_limits): blocking, the window freeing, the memory cap."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from starlette.requests import Request

from pager.api.failure_limits import FailureLimiter, client_of


def failing(limiter: FailureLimiter, client: str, times: list[float]) -> None:
    for at in times:
        assert limiter.blocked(client, at) is None
        limiter.record_failure(client, at)


def test_a_client_is_blocked_after_max_failures_until_the_oldest_leaves_the_window() -> None:
    limiter = FailureLimiter(max_failures=3, window_seconds=60)
    failing(limiter, "a", [0.0, 10.0, 20.0])
    assert limiter.blocked("a", 20.0) == 40.0  # the failure at 0 leaves the window at 60
    assert limiter.blocked("a", 59.5) == 0.5
    assert limiter.blocked("a", 60.0) is None  # two failures left in the window: one more is allowed
    limiter.record_failure("a", 60.0)
    assert limiter.blocked("a", 60.0) == 10.0  # now the failure at 10 is the oldest


def test_other_clients_are_not_affected() -> None:
    limiter = FailureLimiter(max_failures=2, window_seconds=60)
    failing(limiter, "a", [0.0, 1.0])
    assert limiter.blocked("a", 2.0) == 58.0
    assert limiter.blocked("b", 2.0) is None


def test_failures_spread_wider_than_the_window_never_block() -> None:
    limiter = FailureLimiter(max_failures=3, window_seconds=60)
    failing(limiter, "a", [n * 30.0 for n in range(100)])  # two per window at most
    assert len(limiter) == 1


def test_a_client_whose_failures_all_left_the_window_is_forgotten() -> None:
    limiter = FailureLimiter(max_failures=3, window_seconds=60)
    failing(limiter, "a", [0.0])
    failing(limiter, "b", [30.0])
    assert len(limiter) == 2
    assert limiter.blocked("a", 61.0) is None
    assert len(limiter) == 1


def test_memory_is_capped_by_forgetting_the_client_that_failed_least_recently() -> None:
    limiter = FailureLimiter(max_failures=2, window_seconds=60, max_clients=3)
    failing(limiter, "old", [0.0, 1.0])
    failing(limiter, "b", [2.0])
    failing(limiter, "c", [3.0])
    assert limiter.blocked("old", 4.0) == 56.0
    limiter.record_failure("b", 4.0)  # least recently failed first: old, c, b
    limiter.record_failure("d", 5.0)
    assert len(limiter) == 3
    assert limiter.blocked("old", 5.0) is None  # forgotten to make room for d
    limiter.record_failure("e", 6.0)
    assert len(limiter) == 3
    assert limiter.blocked("b", 6.0) == 56.0  # b, failing again at 4, was kept over c
    limiter.record_failure("c", 6.0)
    assert limiter.blocked("c", 6.0) is None  # c's failure at 3 was forgotten with it


def test_each_client_keeps_at_most_max_failures_times() -> None:
    limiter = FailureLimiter(max_failures=5, window_seconds=60)
    for n in range(1000):
        limiter.record_failure("a", n / 1000)
    assert len(limiter._failures["a"]) == 5


def test_concurrent_failures_are_all_counted() -> None:
    limiter = FailureLimiter(max_failures=10_000, window_seconds=60)

    def fail() -> None:
        for _ in range(1000):
            limiter.record_failure("a", 1.0)

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert limiter.blocked("a", 1.0) is None
    limiter.record_failure("a", 1.0)
    assert len(limiter._failures["a"]) == 8001


def test_bad_settings_are_refused() -> None:
    for kwargs in ({"max_failures": 0}, {"window_seconds": 0}, {"max_clients": 0}):
        with pytest.raises(ValueError):
            FailureLimiter(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "client"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # the same host's /64
        ("testclient", "testclient"),
        (None, "unknown"),
    ],
)
def test_the_client_is_the_peer_address_and_an_ipv6_host_its_64(host: str | None, client: str) -> None:
    scope = {"type": "http", "headers": [], "client": None if host is None else (host, 5000)}
    assert client_of(Request(scope)) == client


def test_admit_counts_up_to_the_cap_in_the_window_then_refuses_without_counting() -> None:
    limiter = FailureLimiter(max_failures=3, window_seconds=900)
    assert [limiter.admit("ann", t) for t in (0.0, 1.0, 2.0, 3.0, 899.0)] == [True, True, True, False, False]
    assert limiter.admit("bob", 3.0)  # each key its own count
    # The refused ones were not counted: the first slot frees 900 s after the first admitted one.
    assert limiter.admit("ann", 900.0)
    assert not limiter.admit("ann", 900.5)
    assert limiter.admit("ann", 901.0)


def test_admit_from_many_threads_at_once_never_lets_more_than_the_cap_in() -> None:
    limiter = FailureLimiter(max_failures=3, window_seconds=60)
    start = threading.Barrier(16)

    def one(_: int) -> bool:
        start.wait()
        return limiter.admit("ann", 1.0)

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert sum(pool.map(one, range(16))) == 3
