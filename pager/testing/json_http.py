"""A threaded HTTP server in a background thread: hands each request to an app, writes its JSON answer.

HTTP/1.1 with keep-alive, as the provider APIs it stands in for speak: a client's pooled connection
carries request after request, so a test or benchmark does not pay a TCP connection per call that
production does not pay. `stop()` closes every connection still open (one being answered once its
answer is sent), so a stopped server (an outage, `FakeTwilio.go_down`) answers nobody, whatever
connections the clients kept.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import urllib.parse
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

Answer = tuple[int, Any]
"""An HTTP status and the JSON document to send with it."""


class JsonApp(Protocol):
    """What the server calls, from one thread per request."""

    def handle(
        self, method: str, path: str, query: dict[str, str], body: bytes, headers: Message
    ) -> Answer | None:
        """The answer to send, or None to close the connection without any answer."""


class JsonHttpServer:
    """Serves `app` on host:port (0: a free port) until `stop()`."""

    def __init__(self, app: JsonApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.app = app
        # A short poll keeps stop() quick (shutdown waits for the serve loop to notice).
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="json-http", daemon=True
        )

    def start(self) -> JsonHttpServer:
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting requests, close the connections still open and the listening socket."""
        self._server.shutdown()
        # Before the listening socket: once a new connection is refused, no kept one is answered.
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of the bound socket."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT` of the bound socket."""
        host, port = self.address
        return f"http://{host}:{port}"


class _Server(ThreadingHTTPServer):
    # The stdlib's backlog of 5 drops connects when a client sends in parallel (the engine uses 8).
    request_queue_size = 128
    daemon_threads = True
    app: JsonApp

    def server_activate(self) -> None:
        self._lock = threading.Lock()
        self._idle: set[socket.socket] = set()  # open, waiting for a request
        self._closing = False
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        # Registered here, in the accepting thread, so a connection accepted just before `stop()` is
        # among those it closes even if its own thread has not started yet.
        with self._lock:
            self._idle.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._idle.discard(request)
        super().shutdown_request(request)

    def begin_answer(self, connection: socket.socket) -> bool:
        """A request arrived on `connection`: False when the server is closing (drop it unanswered)."""
        with self._lock:
            self._idle.discard(connection)
            return not self._closing

    def end_answer(self, connection: socket.socket) -> bool:
        """The answer is sent: whether `connection` may wait for another request (not while closing)."""
        with self._lock:
            if self._closing:
                return False
            self._idle.add(connection)
            return True

    def close_connections(self) -> None:
        """Drop the connections waiting for a request; one being answered closes once its answer is
        sent, never halfway (the client would see an error for a request the app has acted on)."""
        with self._lock:
            self._closing = True
            idle, self._idle = list(self._idle), set()
        for connection in idle:
            with contextlib.suppress(OSError):  # closed meanwhile by its own thread
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries its Content-Length
    timeout = 60  # an idle kept-alive connection is closed after this long (seconds)
    # The headers and the body go out in two writes: with Nagle's algorithm the body would wait for
    # the client's delayed ACK of the headers (40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log line on stderr."""

    def _dispatch(self) -> None:
        if not self.server.begin_answer(self.connection):
            self._drop()
            return
        self._answer()
        if not self.server.end_answer(self.connection):
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client may have given up and closed already
            self.connection.shutdown(socket.SHUT_RDWR)

    def _answer(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        answer = self.server.app.handle(self.command, url.path, query, body, self.headers)
        if answer is None:
            # The request arrived but no answer ever comes back: the client sees the connection drop.
            self._drop()
            return
        status, doc = answer
        payload = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
