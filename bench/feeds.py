"""Calendar feeds through the real app, beside a bare FastAPI endpoint serving the same bytes.

Used by bench/rotation.py (not a benchmark of its own). Two uvicorn processes with the same settings:
- pager: `create_app(runtime, run_worker=False)` on a fresh SQLite file, the repository's shipped
  schedules and policies as its config, one calendar token per schedule;
- bare: FastAPI answering GET /feed.ics with the bytes pager served for the same schedule (read
  once at start), the same media type and an ETag header — the floor of serving those bytes.
The client (this process, httpx, one kept-alive connection) fetches each feed in turn.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
UVICORN = {"log_level": "warning", "access_log": False}
MEDIA_TYPE = "text/calendar; charset=utf-8"


def prepare_config(root: Path) -> Path:
    """The repository's shipped schedules and policies copied to `root`/config (returned)."""
    for folder in ("schedules", "escalation_policies"):
        shutil.copytree(REPO / folder, root / "config" / folder)
    return root / "config"


def prepare(root: Path) -> tuple[str, dict[str, str]]:
    """Config (shipped schedules and policies), a migrated SQLite file and a token per schedule."""
    from pager.config.loader import load_config
    from pager.db.migrate import upgrade_schema
    from pager.db.session import create_db_engine, session_scope
    from pager.services.calendars.shifts import FeedTarget, create_feed_token

    prepare_config(root)
    url = f"sqlite:///{root / 'feeds.db'}"
    upgrade_schema(url)
    config = load_config(root / "config")
    assert not config.errors, config.errors
    engine = create_db_engine(url)
    tokens = {}
    with session_scope(engine) as session:
        for schedule_id in sorted(config.schedules):
            _, tokens[schedule_id] = create_feed_token(
                session, FeedTarget("schedule", schedule_id), datetime.now(UTC), config
            )
    engine.dispose()
    return url, tokens


def run_on_fd(app: Any, fd: int, *, limits: bool = False) -> None:
    """uvicorn serving `app` on the inherited listening socket `fd`, with UVICORN's settings, and with
    `limits` the connection limits `pager serve` runs with (pager.api.connection_limits): pager's
    servers have them, bare floors not, so their cost is part of what a ratio measures.

    Not `uvicorn.run(app, fd=fd)`: that wraps the fd as an AF_UNIX socket, so the event loop never
    sets TCP_NODELAY on the connections it accepts, and a response written in two parts (headers,
    then body) waits for the client's delayed ACK: ~40 ms on Linux, whatever the app does.
    """
    import uvicorn

    settings: dict[str, Any] = dict(UVICORN)
    if limits:
        from pager.api.connection_limits import uvicorn_limits

        settings.update(uvicorn_limits())
    server = uvicorn.Server(uvicorn.Config(app, **settings))
    server.run(sockets=[socket.socket(fileno=fd)])  # the family read from the fd: AF_INET


def serve_pager(root: str, url: str, fd: int, demo: bool = False) -> None:
    """pager's app as `pager serve --no-worker` (`demo`: as `pager demo` serves it, phone panel on)."""
    import secrets

    from pager.adapters.console import ConsoleNotifier
    from pager.api.app import create_app
    from pager.config.loader import load_config
    from pager.db.session import create_db_engine
    from pager.services.runtime import Runtime, freeze_startup_heap
    from pager.settings import Settings

    config_dir = Path(root) / "config"
    settings = Settings(database_url=url, config_dir=config_dir, secret_key=secrets.token_urlsafe(32))
    runtime = Runtime(
        engine=create_db_engine(url),
        settings=settings,
        config=load_config(config_dir),
        notifiers={m: ConsoleNotifier(m) for m in ("sms", "voice", "email")},  # type: ignore[misc]
        demo=demo,
    )
    app = create_app(runtime, run_worker=False)
    freeze_startup_heap()
    run_on_fd(app, fd, limits=True)


def serve_bare(body_file: str, fd: int) -> None:
    import hashlib

    from fastapi import FastAPI, Response

    body = Path(body_file).read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
    app = FastAPI()

    @app.get("/feed.ics")
    def feed() -> Response:
        return Response(content=body, media_type=MEDIA_TYPE, headers={"ETag": etag})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    run_on_fd(app, fd)


@contextmanager
def server(args: list[str], script: str = __file__) -> Iterator[int]:
    """`script` (this module by default) run as a server (`args` + a listening socket's fd); yields
    the port once its /healthz answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.set_inheritable(True)
    port, fd = listener.getsockname()[1], listener.fileno()
    command = [sys.executable, script, *args, str(fd)]
    process = subprocess.Popen(command, pass_fds=(fd,), env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server {args} did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)
        listener.close()


def timed(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> tuple[float, httpx.Response]:
    began = time.perf_counter()
    response = client.get(url, headers=headers)
    return time.perf_counter() - began, response


def bench_feeds(requests: int = 300) -> dict[str, Any]:
    """Cold and warm feed requests through the app, bare requests for the same bytes, ETag hits."""
    with tempfile.TemporaryDirectory(prefix="pager-bench-feeds-") as tmp:
        root = Path(tmp)
        url, tokens = prepare(root)
        cold: dict[str, float] = {}
        warm: list[float] = []
        revalidated: list[float] = []
        etag_hits = 0
        sizes: dict[str, int] = {}
        bodies: dict[str, bytes] = {}
        with server(["--serve-pager", str(root), url]) as port, httpx.Client(timeout=60) as client:
            base = f"http://127.0.0.1:{port}/calendar/schedules"
            feed_urls = {sid: f"{base}/{sid}.ics?token={token}" for sid, token in tokens.items()}
            for sid, feed_url in feed_urls.items():
                cold[sid], response = timed(client, feed_url)
                response.raise_for_status()
                bodies[sid], sizes[sid] = response.content, len(response.content)
            largest = max(sizes, key=lambda sid: sizes[sid])
            etag = client.get(feed_urls[largest]).headers["etag"]
            for _ in range(requests):
                warm.append(timed(client, feed_urls[largest])[0])
                seconds, response = timed(client, feed_urls[largest], {"If-None-Match": etag})
                revalidated.append(seconds)
                etag_hits += response.status_code == 304
        body_file = root / "largest.ics"
        body_file.write_bytes(bodies[largest])
        bare: list[float] = []
        with server(["--serve-bare", str(body_file)]) as port, httpx.Client(timeout=60) as client:
            client.get(f"http://127.0.0.1:{port}/feed.ics").raise_for_status()
            for _ in range(requests):
                bare.append(timed(client, f"http://127.0.0.1:{port}/feed.ics")[0])
    warm_s, bare_s = statistics.median(warm), statistics.median(bare)
    return {
        "calendar_1y_cold_s": round(max(cold.values()), 4),
        "calendar_cold_s_by_schedule": {sid: round(s, 4) for sid, s in cold.items()},
        "calendar_warm_ms": round(warm_s * 1000, 3),
        "calendar_bare_ms": round(bare_s * 1000, 3),
        "calendar_warm_ratio": round(warm_s / bare_s, 2),
        "calendar_304_ms": round(statistics.median(revalidated) * 1000, 3),
        "calendar_etag_hits": etag_hits,
        "calendar_etag_requests": requests,
        "calendar_warm_schedule": largest,
        "calendar_warm_bytes": sizes[largest],
        "calendar_requests_each": requests,
    }


if __name__ == "__main__":
    if sys.argv[1] == "--serve-pager":
        serve_pager(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "--serve-bare":
        serve_bare(sys.argv[2], int(sys.argv[3]))
