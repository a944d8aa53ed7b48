"""POST /v2/enqueue under concurrent load, beside a bare FastAPI endpoint; prints one JSON document.

Two real server processes on 127.0.0.1, each uvicorn on a listening socket the bench binds, with the
same settings (one process, no access log, log level warning, TCP_NODELAY: bench/feeds.py's
run_on_fd):
- pager: `create_app(runtime, run_worker=True)` with console notifiers, on a fresh SQLite file
  database (WAL, migrated with `upgrade_schema`) in a temp dir; one service whose integration key is
  fixed, one user on call, so every new alert queues real pages and the worker in the same process
  sends them (console) while the load runs. The per-key throttle is widened for the run (it would
  answer 429 after 120 events: that path is not what is measured) — nothing else is changed.
- bare: a FastAPI app whose POST /v2/enqueue reads the JSON body and answers PagerDuty's 202 body.
With `--worker separate` the pager server runs without its worker (`pager serve --no-worker`) and
the worker runs as its own process (`pager worker`), woken through the SQLite wake socket.

The load generator is this process: asyncio + one httpx.AsyncClient, `--concurrency` workers each
posting in a loop for `--seconds` after `--warmup` seconds, over loopback. Scenarios: `bare`; `dedup`
(the same dedup_key every time: one open alert, every request a dedup hit); `new` (a fresh dedup_key
per request: a new alert, its timeline and outbox rows per request). Targets: dedup >= 50 % and new
>= 25 % of bare's requests/s, p99 < 100 ms.

That closed loop keeps `--concurrency` requests in flight whatever the server's speed, so its latency
is about concurrency / throughput: at 32 connections even the bare endpoint's p99 is well over
100 ms. Latency is therefore also measured open loop (`*_p99_ms_at_offered_rps`): one generator
offers `--rate` requests/s (100 by default: 6,000 alert events a minute, a heavy storm), each due at
its own instant whatever the others are doing, its latency counted from that instant.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ROUTING_KEY = "be7c4000000000000000000000000001"
SCHEDULE = """\
    time_zone: UTC
    layers:
      - name: weekly
        members: [ann]
        start: 2026-01-05T09:00
        shift: 1w
    """
POLICY = """\
    levels:
      - notify: [schedule:team]
        escalate_after: 30m
    services:
      - {id: bench, name: Bench}
    """
TARGETS = {"dedup_ratio_min": 0.7, "new_ratio_min": 0.5, "pg_new_ratio_min": 0.4, "p99_ms_max": 100.0}
OPEN_LOOP_CONNECTIONS = 64  # enough that the open loop never waits for a free connection at its rate


def event(dedup_key: str) -> dict[str, Any]:
    return {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": "Disk /var/lib/postgresql 97% full on db-1",
            "source": "db-1.example.com",
            "severity": "critical",
            "custom_details": {"free_bytes": 1073741824, "mount": "/var/lib/postgresql"},
        },
    }


# --- servers (run as child processes of this script) --------------------------------------------------


def prepare_pager(root: Path, url: str | None = None) -> str:
    """Config dir and a migrated database (a SQLite file in `root` unless `url` is given) with the
    service and its on-call user; the DB URL."""
    from sqlalchemy import update

    from pager.config.loader import load_config
    from pager.db.migrate import upgrade_schema
    from pager.db.session import create_db_engine, session_scope
    from pager.db.tables import Service
    from pager.services.alerting import catalog
    from pager.services.people import users

    for folder, name, text in (("schedules", "team", SCHEDULE), ("escalation_policies", "main", POLICY)):
        (root / "config" / folder).mkdir(parents=True, exist_ok=True)
        (root / "config" / folder / f"{name}.yaml").write_text(textwrap.dedent(text))
    url = url or f"sqlite:///{root / 'pager-bench.db'}"
    upgrade_schema(url)
    engine = create_db_engine(url)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        users.add_user(
            session, handle="ann", name="Ann", now=now, sms="+15555550101", email="ann@example.com"
        )
        catalog.sync_services(session, load_config(root / "config"), now)
        session.execute(update(Service).where(Service.id == "bench").values(integration_key=ROUTING_KEY))  # type: ignore[arg-type]
    engine.dispose()
    return url


def console_runtime(root: Path, url: str) -> Any:
    """The runtime `pager serve` / `pager worker` would build, with console notifiers."""
    from pager.adapters.console import ConsoleNotifier
    from pager.config.loader import load_config
    from pager.db.session import create_db_engine
    from pager.services.runtime import Runtime
    from pager.settings import Settings

    # A key as `pager serve` requires, so email pages are signed as in production.
    settings = Settings(database_url=url, config_dir=root / "config", secret_key=secrets.token_urlsafe(32))
    notifiers = {m: ConsoleNotifier(m) for m in ("sms", "voice", "email")}
    return Runtime(
        engine=create_db_engine(url),
        settings=settings,
        config=load_config(root / "config"),
        notifiers=notifiers,  # type: ignore[arg-type]
    )


def serve_pager(root: Path, url: str, fd: int, in_process_worker: bool) -> None:

    from pager.api.app import create_app
    from pager.services.ingest.keys import Throttle
    from pager.services.runtime import freeze_startup_heap

    runtime = console_runtime(root, url)
    app = create_app(runtime, run_worker=in_process_worker)
    app.state.ingest_throttle = Throttle(rate_per_minute=1e9, burst=1e9)
    freeze_startup_heap()  # as `pager serve` does
    serve_on_fd(app, fd, limits=True)


def run_separate_worker(root: Path, url: str) -> None:
    """`pager worker` beside `pager serve --no-worker`: its own process, woken through the SQLite wake
    socket."""
    from pager.services.runtime import freeze_startup_heap
    from pager.worker import Worker

    runtime = console_runtime(root, url)
    freeze_startup_heap()  # as `pager worker` does
    Worker(runtime).run()


def bare_app() -> FastAPI:
    """The baseline: FastAPI reading the JSON body and answering PagerDuty's 202 body, nothing else."""
    app = FastAPI()

    @app.post("/v2/enqueue", status_code=202)
    async def enqueue(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        content = {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]}
        return JSONResponse(status_code=202, content=content)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_bare(fd: int) -> None:

    serve_on_fd(bare_app(), fd)


@contextmanager
def server(args: list[str], processes: int = 1, script: str = __file__):  # type: ignore[no-untyped-def]
    """`processes` server processes (this script with `args` and a socket fd) accepting on one
    listening socket bound here, as `uvicorn --workers N` or a process manager's shared socket would:
    the kernel hands each connection to one of them. Yields (port, [process, ...])."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    listener.set_inheritable(True)
    port, fd = listener.getsockname()[1], listener.fileno()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = [
        subprocess.Popen([sys.executable, script, *args, str(fd)], pass_fds=(fd,), env=env)
        for _ in range(processes)
    ]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                if any(p.poll() is not None for p in started) or time.monotonic() > deadline:
                    raise RuntimeError(f"server {args} did not start") from None
                time.sleep(0.1)
        time.sleep(1.0 if processes > 1 else 0.0)  # the others finish starting (connections queue meanwhile)
        yield port, started
    finally:
        for process in started:
            stop(process, timeout=15)
        listener.close()


@contextmanager
def separate_worker(root: Path, url: str, wanted: bool):  # type: ignore[no-untyped-def]
    """The worker as its own process (None when it runs inside the pager server)."""
    if not wanted:
        yield None
        return
    process = subprocess.Popen([sys.executable, __file__, "--serve-worker", str(root), url])
    try:
        yield process
    finally:
        stop(process, timeout=30)


def stop(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL if it has not ended within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- load generator ---------------------------------------------------------------------------------


async def generate(
    port: int, dedup_key: str | None, concurrency: int, seconds: float, warmup: float
) -> dict[str, Any]:
    """Post for warmup + seconds with `concurrency` connections; latencies of the measured part.

    `dedup_key` None means a fresh key per request (new alerts).
    """
    url = f"http://127.0.0.1:{port}/v2/enqueue"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    total = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        start = time.perf_counter()
        measure_from, stop_at = start + warmup, start + warmup + seconds

        async def worker() -> None:
            nonlocal total
            while (sent := time.perf_counter()) < stop_at:
                body = event(dedup_key or f"bench-new-{uuid.uuid4().hex}")
                response = await client.post(url, json=body)
                done = time.perf_counter()
                total += 1
                if sent >= measure_from:
                    latencies.append(done - sent)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {"latencies": latencies, "statuses": statuses, "total": total}


async def generate_at_rate(
    port: int, dedup_key: str | None, rate: float, seconds: float, warmup: float
) -> dict[str, Any]:
    """Open loop: request i is due at start + i / rate whatever the earlier ones are doing; its latency
    counts from that due instant (so time spent waiting to be sent counts too: no coordinated omission)."""
    url = f"http://127.0.0.1:{port}/v2/enqueue"
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(
        max_connections=OPEN_LOOP_CONNECTIONS, max_keepalive_connections=OPEN_LOOP_CONNECTIONS
    )
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        start = time.perf_counter()
        measure_from = start + warmup

        async def one(due: float) -> None:
            body = event(dedup_key or f"bench-rate-{uuid.uuid4().hex}")
            response = await client.post(url, json=body)
            if due >= measure_from:
                latencies.append(time.perf_counter() - due)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        tasks = []
        for i in range(int(rate * (warmup + seconds))):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(due)))
        await asyncio.gather(*tasks)
    return {"latencies": latencies, "statuses": statuses, "total": len(tasks)}


def at_rate(port: int, scenario: str, args: argparse.Namespace) -> dict[str, Any]:
    """One open-loop run at `args.rate` requests/s offered, from one generator process."""
    dedup_key = None
    if scenario != "new":
        dedup_key = f"bench-rate-{scenario}-{uuid.uuid4().hex}"
        if scenario == "dedup":
            httpx.post(f"http://127.0.0.1:{port}/v2/enqueue", json=event(dedup_key)).raise_for_status()
    command = [sys.executable, __file__, "--generate-rate", str(port), dedup_key or "-", str(args.rate)]
    command += [str(args.rate_seconds), str(args.warmup)]
    out = json.loads(
        subprocess.run(command, capture_output=True, check=True, timeout=args.rate_seconds + 120).stdout
    )
    latencies = sorted(out["latencies"])

    def quantile(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000, 2)

    return {
        "p50_ms": quantile(0.5),
        "p99_ms": quantile(0.99),
        "requests": len(latencies),
        "statuses": out["statuses"],
    }


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` and its threads so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_round(port: int, pids: list[int], scenario: str, args: argparse.Namespace) -> dict[str, Any]:
    """One timed round: `args.clients` generator processes sharing `args.concurrency` connections."""
    dedup_key = None
    if scenario != "new":
        dedup_key = f"bench-{scenario}-{uuid.uuid4().hex}"
        if scenario == "dedup":  # open the alert first: every measured request is then a dedup hit
            httpx.post(f"http://127.0.0.1:{port}/v2/enqueue", json=event(dedup_key)).raise_for_status()
    per_client = max(1, args.concurrency // args.clients)
    command = [sys.executable, __file__, "--generate", str(port), dedup_key or "-", str(per_client)]
    command += [str(args.seconds), str(args.warmup)]
    cpu_before = sum(process_cpu_seconds(pid) for pid in pids)
    generators = [subprocess.Popen(command, stdout=subprocess.PIPE) for _ in range(args.clients)]
    outputs = [json.loads(g.communicate(timeout=args.seconds + args.warmup + 60)[0]) for g in generators]
    cpu = sum(process_cpu_seconds(pid) for pid in pids) - cpu_before
    latencies = [value for out in outputs for value in out["latencies"]]
    statuses: dict[str, int] = {}
    for out in outputs:
        for code, count in out["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
    total = sum(out["total"] for out in outputs)
    return {
        "rps": statuses.get("202", 0) / args.seconds,
        "latencies": latencies,
        "statuses": statuses,
        "server_cpu_ms_per_request": 1000 * cpu / max(1, total),
    }


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = sorted(value for r in rounds for value in r["latencies"])
    statuses: dict[str, int] = {}
    for r in rounds:
        for code, count in r["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count

    def quantile(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000, 2)

    return {
        "rps": round(statistics.median(r["rps"] for r in rounds), 1),
        "rps_rounds": [round(r["rps"], 1) for r in rounds],
        "p50_ms": quantile(0.5),
        "p99_ms": quantile(0.99),
        "requests": len(latencies),
        "statuses": statuses,
        "server_cpu_ms_per_request": round(
            statistics.median(r["server_cpu_ms_per_request"] for r in rounds), 3
        ),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    rounds: dict[str, list[dict[str, Any]]] = {"bare": [], "dedup": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="pager-bench-ingest-") as tmp:
        root = Path(tmp)
        url = prepare_pager(root)
        serve_args = ["--serve-pager", str(root), url, args.worker]
        with (
            server(["--serve-bare"]) as (bare_port, (bare,)),
            server(serve_args) as (pager_port, (pager,)),
            separate_worker(root, url, args.worker == "separate") as worker,
        ):
            worker_cpu_before = process_cpu_seconds(worker.pid) if worker is not None else 0.0
            # Rounds interleave the scenarios, so a change in the machine's load hits each alike.
            for _ in range(args.rounds):
                rounds["bare"].append(one_round(bare_port, [bare.pid], "bare", args))
                rounds["dedup"].append(one_round(pager_port, [pager.pid], "dedup", args))
                rounds["new"].append(one_round(pager_port, [pager.pid], "new", args))
            at_offered_rate = {
                "bare": at_rate(bare_port, "bare", args),
                "dedup": at_rate(pager_port, "dedup", args),
                "new": at_rate(pager_port, "new", args),
            }
            worker_cpu = process_cpu_seconds(worker.pid) - worker_cpu_before if worker is not None else None
        alerts = count_alerts(url)
        worker_backlog = count_worker_backlog(url)
    results = {scenario: summarize(scenario_rounds) for scenario, scenario_rounds in rounds.items()}
    bare_rps = results["bare"]["rps"] or 1.0
    return {
        "bare_rps": results["bare"]["rps"],
        "dedup_rps": results["dedup"]["rps"],
        "new_rps": results["new"]["rps"],
        "dedup_ratio": round(results["dedup"]["rps"] / bare_rps, 3),
        "new_ratio": round(results["new"]["rps"] / bare_rps, 3),
        "dedup_p99_ms": results["dedup"]["p99_ms"],
        "new_p99_ms": results["new"]["p99_ms"],
        "bare_p99_ms": results["bare"]["p99_ms"],
        "offered_rps": args.rate,
        "dedup_p99_ms_at_offered_rps": at_offered_rate["dedup"]["p99_ms"],
        "new_p99_ms_at_offered_rps": at_offered_rate["new"]["p99_ms"],
        "bare_p99_ms_at_offered_rps": at_offered_rate["bare"]["p99_ms"],
        "targets": TARGETS,
        "detail": results,
        "detail_at_offered_rps": at_offered_rate,
        "alerts_stored": alerts,
        "worker_backlog_at_end": worker_backlog,
        "database": "SQLite file (WAL, SQLite default synchronous=FULL) in the system temp dir",
        "setup": {
            "concurrency": args.concurrency,
            "generator_processes": args.clients,
            "rounds": args.rounds,
            "seconds_per_round": args.seconds,
            "warmup_seconds": args.warmup,
            "load_generator": f"httpx {httpx.__version__} AsyncClient (asyncio), loopback",
            "server": f"uvicorn, 1 process each, access log off, {uvicorn_implementations()}",
            "worker": args.worker,
            "separate_worker_cpu_s": None if worker_cpu is None else round(worker_cpu, 2),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
    }


@contextmanager
def scratch_postgres(admin_url: str):  # type: ignore[no-untyped-def]
    """A new empty Postgres database reached through `admin_url`'s server (None when unreachable),
    dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url)
    plain = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"pager_bench_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        yield None
        return
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        time.sleep(1.0)
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_postgres(args: argparse.Namespace) -> dict[str, Any]:
    """New alerts on Postgres through `--processes` API processes (each with its in-process worker,
    as that many `pager serve` would run) beside bare FastAPI with as many processes."""
    rounds: dict[str, list[dict[str, Any]]] = {"bare": [], "new": []}
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    with scratch_postgres(args.postgres_admin_url) as url, tempfile.TemporaryDirectory() as tmp:
        if url is None:
            return {"skipped": f"Postgres unreachable at {args.postgres_admin_url}"}
        root = Path(tmp)
        prepare_pager(root, url)
        serve_args = ["--serve-pager", str(root), url, "in-process"]
        with (
            server(["--serve-bare"], args.processes) as (bare_port, bares),
            server(serve_args, args.processes) as (pager_port, pagers),
        ):
            for _ in range(args.rounds):
                rounds["bare"].append(one_round(bare_port, [p.pid for p in bares], "bare", args))
                rounds["new"].append(one_round(pager_port, [p.pid for p in pagers], "new", args))
        alerts = count_alerts(url)
    results = {scenario: summarize(scenario_rounds) for scenario, scenario_rounds in rounds.items()}
    return {
        "pg_bare_rps": results["bare"]["rps"],
        "pg_new_rps": results["new"]["rps"],
        "pg_new_ratio": round(results["new"]["rps"] / (results["bare"]["rps"] or 1.0), 3),
        "pg_new_p99_ms": results["new"]["p99_ms"],
        "pg_bare_p99_ms": results["bare"]["p99_ms"],
        "pg_detail": results,
        "pg_alerts_stored": alerts,
        "pg_setup": {
            "api_processes": args.processes,
            "bare_processes": args.processes,
            "worker": "in each API process",
            "load_average_at_start": load_at_start,
        },
    }


def uvicorn_implementations() -> str:
    """The HTTP parser and event loop uvicorn's "auto" picks here (both servers alike)."""
    from importlib.util import find_spec

    http = "httptools" if find_spec("httptools") else "h11"
    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    return f"http={http}, loop={loop}"


def count_alerts(url: str) -> int:
    from sqlalchemy import func
    from sqlmodel import select

    from pager.db.session import create_db_engine, session_scope
    from pager.db.tables import Alert

    engine = create_db_engine(url)
    try:
        with session_scope(engine, read_only=True) as session:
            return int(session.exec(select(func.count()).select_from(Alert)).one())
    finally:
        engine.dispose()


def count_worker_backlog(url: str) -> dict[str, Any]:
    """The pages the in-process worker was still working through: outbox rows by status, and how many
    times a page was put back because its address had had 20 pages in the last minute (every alert
    pages the one user, so nearly all pages of a run wait for that throttle)."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from pager.db.session import create_db_engine, session_scope
    from pager.db.tables import OutboxMessage, TimelineEntry

    engine = create_db_engine(url)
    try:
        with session_scope(engine, read_only=True) as session:
            by_status = session.exec(
                select(OutboxMessage.status, func.count()).group_by(col(OutboxMessage.status))
            ).all()
            deferred = session.exec(
                select(func.count()).select_from(TimelineEntry).where(TimelineEntry.kind == "page_deferred")
            ).one()
        return {"outbox_by_status": dict(sorted(by_status)), "page_deferred_lines": int(deferred)}
    finally:
        engine.dispose()


def serve_on_fd(app: Any, fd: int, *, limits: bool = False) -> None:
    """uvicorn on the inherited listening socket `fd` (bench/feeds.py's run_on_fd: TCP_NODELAY set,
    which `uvicorn.run(app, fd=fd)` misses: ~40 ms delayed-ACK stalls on some responses)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from feeds import run_on_fd

    run_on_fd(app, fd, limits=limits)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from termination import unwind_on_termination

    unwind_on_termination()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32, help="connections in all (default 32)")
    parser.add_argument("--clients", type=int, default=4, help="generator processes sharing them")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per round")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=100.0, help="open loop: requests/s offered (100)")
    parser.add_argument("--rate-seconds", type=float, default=10.0, help="open loop: measured seconds")
    parser.add_argument("--serve-bare", metavar="FD", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--worker",
        choices=("in-process", "separate"),
        default="in-process",
        help="in the pager server (`pager serve`, the default) or its own process "
        "(`pager serve --no-worker` + `pager worker`)",
    )
    parser.add_argument(
        "--serve-pager", nargs=4, metavar=("ROOT", "URL", "WORKER", "FD"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--backends",
        default="sqlite,postgres",
        help="sqlite: 1 process; postgres: --processes (default both)",
    )
    parser.add_argument("--processes", type=int, default=2, help="API processes on Postgres (and bare's)")
    parser.add_argument(
        "--postgres-admin-url",
        default=os.environ.get(
            "PAGER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="maintenance database used to create and drop a scratch database",
    )
    parser.add_argument("--serve-worker", nargs=2, metavar=("ROOT", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--generate", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--generate-rate", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
    elif args.serve_pager is not None:
        root, url, worker, fd = args.serve_pager
        serve_pager(Path(root), url, int(fd), in_process_worker=worker == "in-process")
    elif args.serve_worker is not None:
        root, url = args.serve_worker
        run_separate_worker(Path(root), url)
    elif args.generate is not None:
        port, key, concurrency, seconds, warmup = args.generate
        result = asyncio.run(
            generate(int(port), None if key == "-" else key, int(concurrency), float(seconds), float(warmup))
        )
        print(json.dumps(result))
    elif args.generate_rate is not None:
        port, key, rate, seconds, warmup = args.generate_rate
        result = asyncio.run(
            generate_at_rate(
                int(port), None if key == "-" else key, float(rate), float(seconds), float(warmup)
            )
        )
        print(json.dumps(result))
    else:
        loadavg = [round(x, 2) for x in os.getloadavg()]
        backends = args.backends.split(",")
        result: dict[str, Any] = {"loadavg": loadavg}
        if "sqlite" in backends:
            result.update(run(args))
        if "postgres" in backends:
            result.update(run_postgres(args))
        result["targets"] = TARGETS
        result["targets_met"] = targets_met(result)
        print(json.dumps(result, indent=2))


def targets_met(result: dict[str, Any]) -> dict[str, bool]:
    checks = {
        "dedup_ratio": ("dedup_ratio", ">=", TARGETS["dedup_ratio_min"]),
        "new_ratio": ("new_ratio", ">=", TARGETS["new_ratio_min"]),
        "pg_new_ratio": ("pg_new_ratio", ">=", TARGETS["pg_new_ratio_min"]),
        "dedup_p99_ms": ("dedup_p99_ms_at_offered_rps", "<=", TARGETS["p99_ms_max"]),
        "new_p99_ms": ("new_p99_ms_at_offered_rps", "<=", TARGETS["p99_ms_max"]),
    }
    met = {}
    for name, (key, op, bound) in checks.items():
        if key in result:
            value = result[key]
            met[name] = value is not None and (value >= bound if op == ">=" else value <= bound)
    return met


if __name__ == "__main__":
    main()
