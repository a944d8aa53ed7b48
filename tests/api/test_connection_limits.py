"""Connection limits below the app (pager.api.connection_limits), on a real uvicorn server.

The server runs in a thread with a small budget and a short read timeout; clients are plain sockets,
some bound to other loopback addresses (127.0.0.2, 127.0.0.3) to be other clients. Waiting is on
the sockets (a read that returns when the server answers or closes), bounded by READ_WAIT.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from pager.api import connection_limits
from pager.api.connection_limits import ConnectionBudget, descriptor_budget, limited_http

READ_SECONDS = 0.3
SLOW_ANSWER_SECONDS = 0.8  # longer than READ_SECONDS: the app's own time never counts against a client
READ_WAIT = 5.0


async def fast(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def slow(_request: Request) -> PlainTextResponse:
    await asyncio.sleep(SLOW_ANSWER_SECONDS)
    return PlainTextResponse("slow ok")


async def echo(request: Request) -> PlainTextResponse:
    return PlainTextResponse(await request.body())


APP = Starlette(routes=[Route("/fast", fast), Route("/slow", slow), Route("/echo", echo, methods=["POST"])])


@contextmanager
def serving(budget: ConnectionBudget, read_seconds: float = READ_SECONDS) -> Iterator[int]:
    """uvicorn with the limits on a free port, in a thread; yields the port."""
    config = uvicorn.Config(
        APP,
        host="127.0.0.1",
        port=0,
        log_config=None,
        lifespan="off",
        loop="asyncio",
        http=limited_http(budget, read_seconds=read_seconds),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield int(server.servers[0].sockets[0].getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(10)


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    client = socket.create_connection(("127.0.0.1", port), timeout=READ_WAIT, source_address=(source, 0))
    return client


def answer(client: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or READ_WAIT passes)."""
    received = b""
    deadline = time.monotonic() + READ_WAIT
    while time.monotonic() < deadline:
        try:
            chunk = client.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        received += chunk
    return received


def is_open(client: socket.socket) -> bool:
    """Whether the server still holds the connection (nothing to read, not closed)."""
    client.settimeout(0.05)
    try:
        return client.recv(1, socket.MSG_PEEK) != b""
    except TimeoutError:
        return True
    except ConnectionResetError:
        return False
    finally:
        client.settimeout(READ_WAIT)


def get(port: int, path: str, source: str = "127.0.0.1") -> bytes:
    with connect(port, source) as client:
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return answer(client)


def wait_for(probe: object, what: str) -> None:
    deadline = time.monotonic() + READ_WAIT
    while not probe():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_connection_that_sends_nothing_is_closed_after_the_read_timeout() -> None:
    with serving(ConnectionBudget(8)) as port, connect(port) as silent:
        began = time.monotonic()
        assert answer(silent) == b""
        assert READ_SECONDS <= time.monotonic() - began < READ_WAIT


def test_a_request_head_trickled_a_byte_at_a_time_is_cut_off() -> None:
    with serving(ConnectionBudget(8)) as port, connect(port) as trickling:
        began = time.monotonic()
        head = b"POST /fast HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: y\r\n" * 100
        with pytest.raises(OSError):  # the server closes while bytes still come
            for byte in head:
                trickling.sendall(bytes([byte]))
                time.sleep(0.01)
        assert READ_SECONDS <= time.monotonic() - began < 2 * READ_SECONDS + 1


def test_a_body_trickled_after_a_whole_head_is_cut_off_too() -> None:
    with serving(ConnectionBudget(8)) as port, connect(port) as trickling:
        trickling.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        began = time.monotonic()
        assert answer(trickling) == b""  # closed, no answer: the app never saw a whole body
        assert READ_SECONDS - 0.05 <= time.monotonic() - began < 2


def test_an_answer_slower_than_the_read_timeout_is_not_cut() -> None:
    with serving(ConnectionBudget(8)) as port:
        reply = get(port, "/slow")
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"slow ok")


def test_a_kept_alive_connection_gets_its_answer_then_the_clock_for_the_next_request() -> None:
    with serving(ConnectionBudget(8)) as port, connect(port) as client:
        client.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while not first.endswith(b"slow ok"):
            first += client.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        client.sendall(b"GET /fast HTTP/1.1\r\nHost: x\r\n")  # and the rest never comes
        began = time.monotonic()
        assert answer(client) == b""
        assert time.monotonic() - began < READ_WAIT


def test_the_clock_for_the_next_request_starts_when_the_answer_is_sent() -> None:
    # The answer takes most of the read timeout; the client then has a whole timeout of its own.
    read_seconds = SLOW_ANSWER_SECONDS + 0.2
    with serving(ConnectionBudget(8), read_seconds=read_seconds) as port, connect(port) as client:
        client.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while not first.endswith(b"slow ok"):
            first += client.recv(65536)
        time.sleep(read_seconds / 2)  # the client's own pause before its next request
        client.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nagain"
        )
        assert answer(client).endswith(b"again")


def test_one_client_holds_at_most_its_share_and_others_still_get_in() -> None:
    budget = ConnectionBudget(total=4, per_client=2)
    with serving(budget) as port, ExitStack() as held:
        first, second = (held.enter_context(connect(port)) for _ in range(2))
        wait_for(lambda: budget.open == 2, "two connections admitted")
        with connect(port) as third:
            refused = answer(third)
        assert refused.startswith(b"HTTP/1.1 503 ")
        assert b"retry-after: 1\r\n" in refused.lower() and b"too_many_connections" in refused
        assert is_open(first) and is_open(second)
        assert get(port, "/fast", source="127.0.0.2").endswith(b"ok")


def test_a_full_server_refuses_new_connections_until_one_closes() -> None:
    budget = ConnectionBudget(total=4, per_client=2)
    with serving(budget) as port, ExitStack() as held:
        mine = [held.enter_context(connect(port, source)) for source in ("127.0.0.1", "127.0.0.2") * 2]
        wait_for(lambda: budget.open == 4, "four connections admitted")
        assert get(port, "/fast", source="127.0.0.3").startswith(b"HTTP/1.1 503 ")
        mine[0].close()
        wait_for(lambda: budget.open == 3, "a closed connection released")
        assert get(port, "/fast", source="127.0.0.3").endswith(b"ok")
    wait_for(lambda: budget.open == 0, "every connection released")


def test_the_budget_counts_per_client_and_in_all() -> None:
    budget = ConnectionBudget(total=3, per_client=2)
    assert [budget.admit("a"), budget.admit("a"), budget.admit("a")] == [None, None, "client_full"]
    assert budget.admit("b") is None
    assert budget.admit("c") == "server_full"
    budget.release("a")
    assert budget.admit("c") is None
    assert budget.open == 3
    assert ConnectionBudget(total=10).per_client == 5
    with pytest.raises(ValueError):
        ConnectionBudget(total=1)


@pytest.mark.parametrize(
    ("soft", "budget"),
    [(256, 128), (1024, 768), (20_000, 15_000), (resource.RLIM_INFINITY, 786_432), (100, 16)],
)
def test_the_connection_budget_leaves_a_quarter_of_the_descriptors(
    monkeypatch: pytest.MonkeyPatch, soft: int, budget: int
) -> None:
    monkeypatch.setattr(connection_limits.resource, "getrlimit", lambda _kind: (soft, soft))
    assert descriptor_budget() == budget
