"""A real local HTTP receiver for webhook tests: records every request, answers from a script."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """`answers`: statuses to give in turn; once used up, `then` every time."""

    answers: list[int] = field(default_factory=list)
    then: int = 200
    location: str = ""  # sent as `Location` with every answer when set (a redirect)
    requests: list[Received] = field(default_factory=list)
    url: str = ""

    def next_status(self) -> int:
        return self.answers.pop(0) if self.answers else self.then


@contextmanager
def receiver(answers: list[int] | None = None, then: int = 200) -> Iterator[Receiver]:
    state = Receiver(answers=list(answers or []), then=then)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with lock:
                state.requests.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = state.next_status()
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            if state.location:
                self.send_header("location", state.location)
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"no")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
