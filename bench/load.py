"""Sustained open-loop ingest on Postgres with pages through the fake Twilio; memory; one JSON document.

Setup: a scratch Postgres database; `--users` users with one SMS number each and one policy and
service each (level 1 pages the user, `repeat: 0`, level 2 far out), plus the repository's shipped
schedules, with a calendar token each; `--processes` API processes (`create_app(run_worker=False)`,
as `pager serve --no-worker`) accepting on one socket and `--workers` worker processes (`Worker(...)
.run()`, as `pager worker`), all built with TWILIO_* settings pointing the real twilio SDK at the fake
Twilio (its own process).

1. Maximum: `--clients` generator processes in a closed loop of new alerts for `--max-seconds`.
2. Load: open loop at half that maximum (or `--rate`) for `--seconds`: request i is due at
   start + i / rate, its latency counted from that instant (no coordinated omission); every request
   a new alert on the services in turn. Then the outbox is drained (up to `--drain-timeout`).
3. Floor: the bare FastAPI endpoint of bench/ingest.py with as many processes, the same open loop at
   the same rate for `--bare-seconds`: p99_ratio = pager's p99 / bare's.
4. Memory: alerts topped up to `--memory-alerts` in all, every shipped schedule's feed (a year of
   shifts) fetched through the API processes, the outbox drained; then VmRSS, PSS and USS of each
   process, and the floor: a bare interpreter per role importing only that role's libraries.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ACCOUNT_SID = "AC" + "c" * 32
AUTH_TOKEN = "bench-auth-token"
FROM_NUMBER = "+15005550006"
TARGETS = {"p99_ratio_max": 3.0, "errors_max": 0, "rss_mb_total_max": 200.0, "pages_delivered_all": True}
CONNECTIONS = 64


def routing_key(k: int) -> str:
    return f"10ad{k:028d}"


def event(k: int, dedup_key: str) -> dict[str, Any]:
    return {
        "routing_key": routing_key(k),
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": f"Load {dedup_key}", "source": "load.example.com", "severity": "critical"},
    }


# --- setup and processes --------------------------------------------------------------------------


def prepare(root: Path, url: str, users: int) -> dict[str, str]:
    """Config, users and services with integration keys; calendar tokens of the shipped schedules."""
    from sqlalchemy import update

    from pager.config.loader import load_config
    from pager.db.migrate import upgrade_schema
    from pager.db.session import create_db_engine, session_scope
    from pager.db.tables import Service
    from pager.services.alerting import catalog
    from pager.services.calendars.shifts import FeedTarget, create_feed_token
    from pager.services.people import users as people

    shutil.copytree(REPO / "schedules", root / "config" / "schedules")
    policies = root / "config" / "escalation_policies"
    policies.mkdir(parents=True)
    for k in range(users):
        (policies / f"p{k:05d}.yaml").write_text(
            textwrap.dedent(f"""\
                name: Load {k}
                repeat: 0
                levels:
                  - notify: [user:u{k:05d}]
                    escalate_after: 12h
                services:
                  - {{id: s{k:05d}, name: Load service {k}}}
                """)
        )
    upgrade_schema(url)
    config = load_config(root / "config")
    assert not config.errors, config.errors
    engine = create_db_engine(url)
    now = datetime.now(UTC)
    tokens = {}
    with session_scope(engine) as session:
        for k in range(users):
            people.add_user(session, handle=f"u{k:05d}", name=f"User {k}", now=now, sms=f"+1666{k:07d}")
        catalog.sync_services(session, config, now)
        for k in range(users):
            session.execute(
                update(Service).where(Service.id == f"s{k:05d}").values(integration_key=routing_key(k))  # type: ignore[arg-type]
            )
        for schedule_id in sorted(config.schedules):
            _, tokens[schedule_id] = create_feed_token(
                session, FeedTarget("schedule", schedule_id), now, config
            )
    engine.dispose()
    return tokens


def runtime(root: str, url: str, fake_url: str) -> Any:
    from pager.services.runtime import build_runtime
    from pager.settings import Settings

    settings = Settings(
        database_url=url,
        config_dir=Path(root) / "config",
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=FROM_NUMBER,
        twilio_api_base=fake_url,
        public_url="http://127.0.0.1:9",  # status callbacks go nowhere: not part of this measurement
        secret_key=secrets.token_urlsafe(32),
    )
    return build_runtime(settings)


def serve_api(root: str, url: str, fake_url: str, fd: int) -> None:

    from pager.api.app import create_app
    from pager.services.ingest.keys import Throttle
    from pager.services.runtime import freeze_startup_heap

    app = create_app(runtime(root, url, fake_url), run_worker=False)
    app.state.ingest_throttle = Throttle(rate_per_minute=1e9, burst=1e9)  # as bench/ingest.py
    freeze_startup_heap()
    serve_on_fd(app, fd, limits=True)


def run_worker(root: str, url: str, fake_url: str) -> None:
    from pager.services.runtime import freeze_startup_heap
    from pager.worker import Worker

    built = runtime(root, url, fake_url)
    freeze_startup_heap()
    Worker(built).run()


@contextlib.contextmanager
def fake_twilio() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    command = [sys.executable, "-m", "pager.testing.fake_twilio"]
    command += ["--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip(), process
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def workers(root: Path, url: str, fake_url: str, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    from ingest import stop

    command = [sys.executable, __file__, "--run-worker", str(root), url, fake_url]
    started = [subprocess.Popen(command) for _ in range(count)]
    try:
        yield started
    finally:
        for process in started:
            stop(process, timeout=30)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS, and from /proc/<pid>/smaps_rollup PSS (shared pages divided among the processes that
    map them) and USS (Private_Clean + Private_Dirty: what ending the process would free), in MB."""
    kb: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            kb[name] = int(rest.split()[0])
    uss = kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)
    return {"rss": rss_mb(pid), "pss": kb.get("Pss", 0) / 1024, "uss": uss / 1024}


# The third-party libraries each role cannot do without: the floor process imports exactly these and
# nothing of pager's, then waits to be measured.
FLOOR_LIBRARIES = {
    "serve": ["sqlalchemy", "sqlmodel", "psycopg", "pydantic", "pydantic_settings", "fastapi", "uvicorn"],
    "worker": ["sqlalchemy", "sqlmodel", "psycopg", "pydantic", "pydantic_settings", "twilio.rest"],
}


def floor_memory(role: str) -> dict[str, float]:
    """A bare interpreter (same executable, same environment as the measured processes) that imports
    the role's FLOOR_LIBRARIES and nothing else: what any process of that role costs at least."""
    code = f"import sys, importlib; [importlib.import_module(m) for m in {FLOOR_LIBRARIES[role]!r}]; "
    code += "print('ready', flush=True); sys.stdin.readline()"
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        return memory_mb(process.pid)
    finally:
        process.kill()
        process.wait(timeout=30)


# --- load generators (child processes) --------------------------------------------------------------


async def closed_loop(port: int, users: int, connections: int, seconds: float, tag: str) -> dict[str, Any]:
    import httpx  # here, not at the top: the API and worker processes run this file too

    url = f"http://127.0.0.1:{port}/v2/enqueue"
    ok = sent = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        stop_at = time.perf_counter() + seconds

        async def loop(worker: int) -> None:
            nonlocal ok, sent
            n = 0
            while time.perf_counter() < stop_at:
                n += 1
                k = (worker * 7919 + n) % users
                sent += 1
                try:
                    response = await client.post(url, json=event(k, f"{tag}-{worker}-{n}"))
                except httpx.HTTPError:  # counted (ok is not raised): a closed-loop run goes on
                    continue
                ok += response.status_code == 202

        await asyncio.gather(*(loop(w) for w in range(connections)))
    return {"ok": ok, "sent": sent, "seconds": seconds}


async def open_loop(
    port: int, users: int, rate: float, seconds: float, offset: float, tag: str, start_at: float
) -> dict[str, Any]:
    """Request i due at start_at + offset + i / rate (wall clock, shared by the generators)."""
    import httpx

    url = f"http://127.0.0.1:{port}/v2/enqueue"
    results: list[tuple[str, float, float, int]] = []  # key, due wall time, latency, status
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        loop = asyncio.get_running_loop()
        late_start_s = max(0.0, time.time() - start_at)
        base = loop.time() + (start_at - time.time())

        async def one(i: int, due: float) -> None:
            key = f"{tag}-{i}"
            due_wall = start_at + (due - base)
            try:
                response = await client.post(url, json=event(hash(key) % users, key))
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            results.append((key, due_wall, loop.time() - due, status))

        tasks = []
        for i in range(int(rate * seconds)):
            due = base + offset + i / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
    return {"results": results, "late_start_s": late_start_s}


def generators(args: list[str], count: int, timeout: float) -> list[dict[str, Any]]:
    command = [sys.executable, __file__, *args]
    started = [subprocess.Popen([*command, str(i)], stdout=subprocess.PIPE) for i in range(count)]
    return [json.loads(p.communicate(timeout=timeout)[0]) for p in started]


def offered(
    port: int, users: int, rate: float, seconds: float, clients: int, tag: str
) -> tuple[list[Any], float]:
    """`clients` open-loop generators together offering `rate` requests/s: every result row, and how
    late the latest generator started (its first requests count that wait: should be 0)."""
    start_at = time.time() + 5.0  # the generators' start-up is not part of the window
    args = ["--open-loop", str(port), str(users), str(rate / clients), str(seconds), tag, str(start_at)]
    args.append(str(clients))
    outputs = generators(args, clients, seconds + 180)
    late = max(out["late_start_s"] for out in outputs)
    return [row for out in outputs for row in out["results"]], late


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# --- measurements -----------------------------------------------------------------------------------


def sms_receipts(fake_url: str) -> dict[int, datetime]:
    """alert id -> the fake's receipt time of the first SMS naming it."""
    import re

    pattern = re.compile(r"^ALERT (\d+) ")
    with urllib.request.urlopen(f"{fake_url}/_fake/requests", timeout=120) as response:
        requests = json.load(response)
    found: dict[int, datetime] = {}
    for request in requests:
        if request["method"] == "POST" and request["path"].endswith("/Messages.json"):
            match = pattern.match(request["form"].get("Body", ""))
            if match:
                found.setdefault(int(match.group(1)), datetime.fromisoformat(request["time"]))
    return found


def database_state(url: str) -> tuple[dict[str, int], int, dict[str, int]]:
    """(dedup key -> alert id, outbox rows not yet sent, outbox rows by status)."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from pager.db.session import create_db_engine, session_scope
    from pager.db.tables import Alert, OutboxMessage

    engine = create_db_engine(url)
    try:
        with session_scope(engine, read_only=True) as session:
            keys = {
                key: int(a) for key, a in session.exec(select(Alert.dedup_key, Alert.id)) if a is not None
            }
            by_status = dict(
                session.exec(
                    select(OutboxMessage.status, func.count()).group_by(col(OutboxMessage.status))
                ).all()
            )
    finally:
        engine.dispose()
    unsent = sum(n for status, n in by_status.items() if status in ("pending", "sending", "unknown"))
    return keys, unsent, by_status


def drain(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if database_state(url)[1] == 0:
            return True
        time.sleep(1.0)
    return False


def run(args: argparse.Namespace) -> dict[str, Any]:
    # bench/ingest.py's shared-socket servers, scratch database and bare endpoint (imported here, so
    # the generator processes, which run this file too, start without FastAPI).
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import httpx
    from ingest import scratch_postgres, server

    result: dict[str, Any] = {"loadavg": [round(x, 2) for x in os.getloadavg()]}
    with (
        scratch_postgres(args.postgres_admin_url) as url,
        tempfile.TemporaryDirectory(prefix="pager-bench-load-") as tmp,
    ):
        if url is None:
            return {**result, "skipped": f"Postgres unreachable at {args.postgres_admin_url}"}
        root = Path(tmp)
        tokens = prepare(root, url, args.users)
        with (
            fake_twilio() as (fake_url, fake),
            server(["--serve-api", str(root), url, fake_url], args.processes, script=__file__) as (
                port,
                apis,
            ),
            workers(root, url, fake_url, args.workers) as running_workers,
        ):
            time.sleep(2.0)
            rss_at_start = [rss_mb(p.pid) for p in [*apis, *running_workers]]
            outputs = generators(
                [
                    "--closed-loop",
                    str(port),
                    str(args.users),
                    str(CONNECTIONS // args.clients),
                    str(args.max_seconds),
                ],
                args.clients,
                args.max_seconds + 120,
            )
            max_rps = sum(out["ok"] for out in outputs) / args.max_seconds
            rate = args.rate or max_rps / 2
            drain(url, args.drain_timeout)
            rows, late_start = offered(
                port, args.users, rate, args.seconds, args.clients, f"load-{uuid.uuid4().hex[:8]}"
            )
            drained = drain(url, args.drain_timeout)
            keys, unsent, by_status = database_state(url)
            receipts = sms_receipts(fake_url)
            if args.dump is not None:  # where a tail comes from: line the requests up in time
                fields = ("key", "due", "latency_s", "status")
                args.dump.write_text(json.dumps([dict(zip(fields, row, strict=True)) for row in rows]))
            latencies = [latency for _, _, latency, _ in rows]
            errors = sum(1 for *_, status in rows if status != 202)
            alert_of = {key: keys[key] for key, *_ in rows if key in keys}
            to_sms = [
                (receipts[alert_of[key]].timestamp() - due_wall)
                for key, due_wall, _, _ in rows
                if key in alert_of and alert_of[key] in receipts
            ]
            expected = len(alert_of)
            delivered = sum(1 for key in alert_of if alert_of[key] in receipts)
            # Memory: top up to --memory-alerts alerts, fetch every shipped schedule's year of shifts.
            while len(keys) < args.memory_alerts:
                missing_seconds = (args.memory_alerts - len(keys)) / max(1.0, max_rps) + 1
                generators(
                    [
                        "--closed-loop",
                        str(port),
                        str(args.users),
                        str(CONNECTIONS // args.clients),
                        str(missing_seconds),
                    ],
                    args.clients,
                    missing_seconds + 120,
                )
                keys = database_state(url)[0]
            with httpx.Client(timeout=60) as client:
                for _ in range(2 * args.processes):  # connections land on either process
                    for schedule_id, token in tokens.items():
                        client.get(
                            f"http://127.0.0.1:{port}/calendar/schedules/{schedule_id}.ics?token={token}"
                        )
                    client.close()
                    client = httpx.Client(timeout=60)
            drain(url, args.drain_timeout)
            mem_serve = [memory_mb(p.pid) for p in apis]
            mem_worker = [memory_mb(p.pid) for p in running_workers]
            rss_serve = [m["rss"] for m in mem_serve]
            rss_worker = [m["rss"] for m in mem_worker]
            fake_rss = rss_mb(fake.pid)
            floors = {role: floor_memory(role) for role in FLOOR_LIBRARIES}
        with server(["--serve-bare"], args.processes) as (bare_port, _bares):
            bare_rows, bare_late_start = offered(
                bare_port, args.users, rate, args.bare_seconds, args.clients, "bare"
            )
    bare_p99 = quantile([latency for _, _, latency, _ in bare_rows], 0.99)
    p99 = quantile(latencies, 0.99)
    result.update(
        {
            "max_rps": round(max_rps, 1),
            "offered_rps": round(rate, 1),
            "achieved_rps": round(sum(1 for *_, s in rows if s == 202) / args.seconds, 1),
            "p50_ms": round((quantile(latencies, 0.5) or 0) * 1000, 2),
            "p99_ms": round((p99 or 0) * 1000, 2),
            "bare_p99_ms": round((bare_p99 or 0) * 1000, 2),
            "p99_ratio": round(p99 / bare_p99, 2) if p99 and bare_p99 else None,
            "errors": errors,
            "pages_expected": expected,
            "pages_delivered": delivered,
            "p50_trigger_to_sms_s": round(quantile(to_sms, 0.5) or 0, 3),
            "p99_trigger_to_sms_s": round(quantile(to_sms, 0.99) or 0, 3),
            "drained_after_load": drained,
            "outbox_by_status": by_status,
            "unsent_after_load": unsent,
            "memory_alerts": len(keys),
            "rss_mb_serve": round(sum(rss_serve), 1),
            "rss_mb_worker": round(sum(rss_worker), 1),
            "rss_mb_total": round(sum(rss_serve) + sum(rss_worker), 1),
            "rss_mb_per_process": {
                "serve": [round(x, 1) for x in rss_serve],
                "worker": [round(x, 1) for x in rss_worker],
            },
            "pss_mb_total": round(sum(m["pss"] for m in [*mem_serve, *mem_worker]), 1),
            "uss_mb_total": round(sum(m["uss"] for m in [*mem_serve, *mem_worker]), 1),
            "pss_mb_per_process": {
                "serve": [round(m["pss"], 1) for m in mem_serve],
                "worker": [round(m["pss"], 1) for m in mem_worker],
            },
            "uss_mb_per_process": {
                "serve": [round(m["uss"], 1) for m in mem_serve],
                "worker": [round(m["uss"], 1) for m in mem_worker],
            },
            "rss_mb_floor": round(
                args.processes * floors["serve"]["rss"] + args.workers * floors["worker"]["rss"], 1
            ),
            "rss_mb_floor_per_process": {role: round(m["rss"], 1) for role, m in floors.items()},
            "pss_mb_floor_per_process": {role: round(m["pss"], 1) for role, m in floors.items()},
            "rss_mb_fake_twilio": round(fake_rss, 1),
            "rss_mb_at_start": [round(x, 1) for x in rss_at_start],
            "generator_late_start_s": [round(late_start, 3), round(bare_late_start, 3)],
            "setup": {
                "api_processes": args.processes,
                "worker_processes": args.workers,
                "users_services_numbers": args.users,
                "generator_processes": args.clients,
                "seconds": args.seconds,
                "bare_seconds": args.bare_seconds,
                "cpus": os.cpu_count(),
            },
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        }
    )
    result["rss_ratio"] = round(result["rss_mb_total"] / result["rss_mb_floor"], 2)
    result["targets"] = TARGETS
    result["targets_met"] = {
        "p99_ratio": result["p99_ratio"] is not None and result["p99_ratio"] <= TARGETS["p99_ratio_max"],
        "errors": errors <= TARGETS["errors_max"],
        "pages_delivered": delivered == expected and expected > 0,
        "rss_mb_total": result["rss_mb_total"] <= TARGETS["rss_mb_total_max"],
    }
    return result


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
    parser.add_argument("--seconds", type=float, default=60.0, help="open-loop load, seconds (60)")
    parser.add_argument("--bare-seconds", type=float, default=20.0, help="bare floor's open loop (20)")
    parser.add_argument("--max-seconds", type=float, default=5.0, help="closed loop measuring the maximum")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="offered requests/s (default: half the measured maximum)"
    )
    parser.add_argument("--processes", type=int, default=2, help="API processes (and bare's)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--clients", type=int, default=2, help="generator processes")
    parser.add_argument("--users", type=int, default=1000, help="users = services = numbers (1000)")
    parser.add_argument("--memory-alerts", type=int, default=10_000)
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument(
        "--dump",
        type=Path,
        help="write every load request (key, due wall-clock instant, latency_s, status) to this JSON file",
    )
    parser.add_argument(
        "--postgres-admin-url",
        default=os.environ.get(
            "PAGER_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--serve-api", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--run-worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--closed-loop", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--open-loop", nargs=8, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_api:
        root, url, fake_url, fd = args.serve_api
        serve_api(root, url, fake_url, int(fd))
    elif args.run_worker:
        run_worker(*args.run_worker)
    elif args.closed_loop:
        port, users, connections, seconds, index = args.closed_loop
        out = asyncio.run(
            closed_loop(
                int(port), int(users), int(connections), float(seconds), f"max-{uuid.uuid4().hex[:6]}-{index}"
            )
        )
        print(json.dumps(out))
    elif args.open_loop:
        port, users, rate, seconds, tag, start_at, clients, index = args.open_loop
        offset = int(index) / float(rate) / int(clients)  # interleave the generators' instants
        out = asyncio.run(
            open_loop(
                int(port), int(users), float(rate), float(seconds), offset, f"{tag}-{index}", float(start_at)
            )
        )
        print(json.dumps(out))
    else:
        print(json.dumps(run(args), indent=2))


if __name__ == "__main__":
    main()
