"""The fakes' HTTP server (pager.testing.json_http): keep-alive, and a stop that answers nobody more
but never cuts an answer halfway."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from email.message import Message

import pytest
import requests

from pager.testing.json_http import Answer, JsonHttpServer


class Counting:
    """Answers every request with its number; `hold` makes the next answer wait for `release`."""

    def __init__(self) -> None:
        self.count = 0
        self.hold = False
        self.holding = threading.Event()
        self.release = threading.Event()

    def handle(self, method: str, path: str, query: dict[str, str], body: bytes, headers: Message) -> Answer:
        self.count += 1
        if self.hold:
            self.holding.set()
            self.release.wait(timeout=10)
        return 200, {"n": self.count, "path": path}


@pytest.fixture
def app() -> Counting:
    return Counting()


@pytest.fixture
def server(app: Counting) -> Iterator[JsonHttpServer]:
    running = JsonHttpServer(app).start()
    yield running
    running.stop()


def get(connection: http.client.HTTPConnection, path: str) -> dict[str, object]:
    connection.request("GET", path)
    answer = connection.getresponse()
    assert answer.status == 200
    assert answer.version == 11
    document: dict[str, object] = json.loads(answer.read())
    return document


def refused(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_one_connection_carries_request_after_request(server: JsonHttpServer) -> None:
    host, port = server.address
    connection = http.client.HTTPConnection(host, port, timeout=5)
    assert get(connection, "/a") == {"n": 1, "path": "/a"}
    kept = connection.sock
    assert kept is not None  # HTTP/1.0 would have closed it after the answer
    for n in range(2, 6):
        assert get(connection, f"/{n}") == {"n": n, "path": f"/{n}"}
        assert connection.sock is kept
    connection.close()


def test_a_requests_session_reuses_its_connection(server: JsonHttpServer) -> None:
    # As the twilio SDK's session does: its pool hands the same connection back.
    with requests.Session() as session:
        first = session.get(f"{server.base_url}/x", stream=True)
        local = first.raw._connection.sock.getsockname()
        assert first.json() == {"n": 1, "path": "/x"}  # read whole: the connection goes back to the pool
        second = session.get(f"{server.base_url}/y", stream=True)
        assert second.raw._connection.sock.getsockname() == local
        assert second.json() == {"n": 2, "path": "/y"}


def test_stop_closes_kept_connections_and_refuses_new_ones(server: JsonHttpServer, app: Counting) -> None:
    host, port = server.address
    connection = http.client.HTTPConnection(host, port, timeout=5)
    get(connection, "/before")
    server.stop()
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        get(connection, "/after")
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection(host, port, timeout=5).connect()
    assert app.count == 1  # the request on the kept connection never reached the app


def test_stop_lets_the_answer_in_progress_finish_then_closes(server: JsonHttpServer, app: Counting) -> None:
    host, port = server.address
    connection = http.client.HTTPConnection(host, port, timeout=5)
    get(connection, "/first")
    app.hold = True
    answers: list[dict[str, object]] = []
    client = threading.Thread(target=lambda: answers.append(get(connection, "/held")))
    client.start()
    assert app.holding.wait(timeout=5)
    stopping = threading.Thread(target=server.stop)
    stopping.start()
    refused_by = time.monotonic() + 5
    while not refused(host, port) and time.monotonic() < refused_by:
        time.sleep(0.01)  # stop() closes the kept connections, then the listening socket
    app.release.set()
    client.join(timeout=10)
    stopping.join(timeout=10)
    # The app acted on the request, so its answer arrives whole; then the connection is closed.
    assert answers == [{"n": 2, "path": "/held"}]
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        get(connection, "/after")
    assert app.count == 2
