"""A threaded HTTP server in a background thread: hands each request to an app, writes its JSON answer."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.parse
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socket import SHUT_RDWR
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
        """Stop accepting requests and close the listening socket."""
        self._server.shutdown()
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


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log line on stderr."""

    def _dispatch(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        answer = self.server.app.handle(self.command, url.path, query, body, self.headers)
        if answer is None:
            # The request arrived but no answer ever comes back: the client sees the connection drop.
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client may have given up and closed already
                self.connection.shutdown(SHUT_RDWR)
            return
        status, doc = answer
        payload = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
