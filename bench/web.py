"""Server time per console page with the demo data plus a year of shifts; prints one JSON document.

Two uvicorn processes with the same settings (bench/feeds.py's `server`): pager (`create_app`, no
worker, a fresh SQLite file, the repository's schedules/ and escalation_policies/, the demo seed
plus a year of overrides and a few thousand alerts with timelines), and a bare FastAPI endpoint that
serves, for each page, the bytes pager served for it (same media type, nothing else): the floor.

One logged-in session (an API token through POST /login/token, as a person logs in), one kept-alive
httpx client, each page requested `--warmup` then `--requests` times in a row. Latency is measured by
the client on localhost: it includes the loopback round trip and httpx's own work, which the bare
floor has too (its p50 is that overhead plus serving the bytes).

Target (from the issue): every page's p99 under 100 ms.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feeds import prepare_config, run_on_fd, server
from termination import unwind_on_termination

# The pages measured: key -> path. `{schedule}`, `{alert}`, `{handle}` and `{incident}` are filled
# from the seeded data (one page per shipped schedule for `{schedule}`). A page answering 404 when
# the bench runs (a feature not merged yet) is listed under `skipped` instead. Extend freely.
PAGES: dict[str, str] = {
    "board": "/",
    "schedule": "/schedules/{schedule}",
    "alerts": "/alerts",
    "alerts_rows": "/alerts/rows",
    "alert": "/alerts/{alert}",
    "person": "/people/{handle}",
    "docs": "/docs",
    "incidents": "/incidents",
    "incident": "/incidents/{incident}",
    "status": "/status",
    "status_json": "/status.json",
    "status_feed": "/status/feed.atom",
    "demo_phone": "/demo/phone",
}
TARGET_P99_MS = 100.0
OVERRIDE_DAYS = 365
ALERTS = 2000
PERSON = "alice"


def seed(root: Path, now: datetime, alerts: int) -> tuple[str, str, dict[str, int]]:
    """Config, a migrated SQLite file, the demo seed, a year of overrides and `alerts` alerts.

    Overrides: on every shipped schedule, one `add` override a day for the coming OVERRIDE_DAYS days
    (the primary role, two hours at noon UTC, members in turn). Alerts: spread over the past year
    (one every 4 hours, newest now), services in turn, distinct dedup keys; of every three, one is
    acknowledged five minutes after it opened and resolved 30 minutes after, one only acknowledged,
    one left triggered. All through the services the API uses (`seed_demo`, `add_override`,
    `trigger_alert`, `act_on_alert`). Returns the database URL, the demo's API token and counts.
    """
    from pager.adapters.console import ConsoleNotifier
    from pager.config.loader import load_config
    from pager.db.migrate import upgrade_schema
    from pager.db.session import create_db_engine, session_scope
    from pager.services.alerting.alerts import act_on_alert, trigger_alert
    from pager.services.calendars.overrides import add_override
    from pager.services.demo import seed_demo
    from pager.services.runtime import Runtime
    from pager.settings import Settings

    logging.getLogger("pager").setLevel(logging.WARNING)
    config_dir = prepare_config(root)
    url = f"sqlite:///{root / 'web.db'}"
    upgrade_schema(url)
    config = load_config(config_dir)
    assert not config.errors, config.errors
    engine = create_db_engine(url)
    runtime = Runtime(
        engine=engine,
        settings=Settings(database_url=url, config_dir=config_dir, secret_key="bench-web-seed-" * 3),
        config=config,
        notifiers={m: ConsoleNotifier(m) for m in ("sms", "voice", "email")},  # type: ignore[misc]
    )
    seeded = seed_demo(runtime, now)
    token, services = seeded.tokens.admin, seeded.services
    assert token is not None
    overrides = 0
    day0 = now.replace(hour=12, minute=0, second=0, microsecond=0)
    with session_scope(engine) as session:
        for schedule_id, schedule in sorted(config.schedules.items()):
            members = sorted({m for layer in schedule.layers for m in getattr(layer, "members", ())})
            for day in range(OVERRIDE_DAYS):
                start = day0 + timedelta(days=day)
                add_override(
                    session,
                    config,
                    schedule_id=schedule_id,
                    role="primary",
                    user=members[day % len(members)],
                    start=start,
                    end=start + timedelta(hours=2),
                    now=now,
                    created_by="bench",
                )
                overrides += 1
    acked = resolved = 0
    for i in range(alerts):
        opened = now - timedelta(hours=4 * (alerts - 1 - i))
        service_id = services[i % len(services)][0]
        outcome = trigger_alert(
            runtime, service_id=service_id, summary=f"bench alert {i}", now=opened, dedup_key=f"bench-{i}"
        )
        alert_id = outcome.alert_id
        if i % 3 < 2:
            act_on_alert(runtime, alert_id, "ack", by="alice", now=opened + timedelta(minutes=5))
            acked += 1
        if i % 3 == 0:
            act_on_alert(runtime, alert_id, "resolve", by="alice", now=opened + timedelta(minutes=30))
            resolved += 1
    engine.dispose()
    return url, token, {"overrides": overrides, "alerts": alerts, "acked": acked, "resolved": resolved}


def first_id(db_file: Path, table: str) -> int | None:
    """The newest row id of `table` (None when the table is missing or empty)."""
    with sqlite3.connect(db_file) as db:
        try:
            row = db.execute(f"SELECT max(id) FROM {table}").fetchone()
        except sqlite3.OperationalError:
            return None
    return None if row is None or row[0] is None else int(row[0])


def expand(db_file: Path, schedule_ids: list[str]) -> dict[str, str]:
    """PAGES with their placeholders filled: key -> path (`schedule_<id>` per schedule)."""
    values = {
        "alert": first_id(db_file, "alerts"),
        "handle": PERSON,
        "incident": first_id(db_file, "incidents"),
    }
    paths: dict[str, str] = {}
    for key, template in PAGES.items():
        if "{schedule}" in template:
            for schedule_id in schedule_ids:
                paths[f"{key}_{schedule_id}"] = template.format(schedule=schedule_id)
            continue
        needed = re.findall(r"{(\w+)}", template)
        if any(values.get(name) is None for name in needed):
            continue
        paths[key] = template.format(**{name: values[name] for name in needed})
    return paths


def log_in(client: httpx.Client, base: str, token: str) -> None:
    """POST /login/token with the form's CSRF value, as a browser would; the client keeps the cookie."""
    form = client.get(f"{base}/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, "no CSRF field on /login"
    answer = client.post(f"{base}/login/token", data={"csrf": csrf.group(1), "token": token, "next": "/"})
    assert answer.status_code == 303, (answer.status_code, answer.text[:300])


def measure(client: httpx.Client, url: str, warmup: int, requests: int) -> tuple[list[float], httpx.Response]:
    """`warmup` unmeasured requests, then `requests` timed ones (seconds); the last response."""
    response = client.get(url)
    for _ in range(warmup - 1):
        response = client.get(url)
    samples = []
    for _ in range(requests):
        began = time.perf_counter()
        response = client.get(url)
        samples.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:300]}")
    return samples, response


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def main() -> None:
    unwind_on_termination()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--alerts", type=int, default=ALERTS)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "requests_each": args.requests,
        "warmup_each": args.warmup,
    }
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="pager-bench-web-") as tmp:
        root = Path(tmp)
        began = time.perf_counter()
        url, token, counts = seed(root, now, args.alerts)
        result["seed"] = {**counts, "seconds": round(time.perf_counter() - began, 1)}
        schedule_ids = sorted(p.stem for p in (root / "config" / "schedules").glob("*.yaml"))
        paths = expand(root / "web.db", schedule_ids)
        timings: dict[str, list[float]] = {}
        bodies: dict[str, tuple[bytes, str]] = {}
        skipped: dict[str, int] = {}
        with server(["--serve-pager", str(root), url], __file__) as port, httpx.Client(timeout=60) as client:
            base = f"http://127.0.0.1:{port}"
            log_in(client, base, token)
            for key, path in paths.items():
                probe = client.get(base + path)
                if probe.status_code != 200:
                    skipped[key] = probe.status_code
                    continue
                timings[key], response = measure(client, base + path, args.warmup, args.requests)
                bodies[key] = response.content, response.headers.get("content-type", "text/html")
        body_dir = root / "bodies"
        body_dir.mkdir()
        for key, (content, media_type) in bodies.items():
            (body_dir / key).write_bytes(content)
            (body_dir / f"{key}.type").write_text(media_type)
        bare: dict[str, list[float]] = {}
        with server(["--serve-pages", str(body_dir)], __file__) as port, httpx.Client(timeout=60) as client:
            for key in bodies:
                page_url = f"http://127.0.0.1:{port}/page/{key}"
                bare[key], _ = measure(client, page_url, args.warmup, args.requests)
    pages = {}
    for key, samples in timings.items():
        page_p50, bare_p50 = statistics.median(samples), statistics.median(bare[key])
        pages[key] = {
            "path": paths[key],
            "bytes": len(bodies[key][0]),
            "p50_ms": round(page_p50 * 1000, 2),
            "p99_ms": round(p99(samples) * 1000, 2),
            "bare_p50_ms": round(bare_p50 * 1000, 2),
            "bare_p99_ms": round(p99(bare[key]) * 1000, 2),
            "ratio_p50": round(page_p50 / bare_p50, 2),
        }
    result["pages"] = pages
    result["skipped"] = skipped
    result["targets"] = {"page_p99_ms_max": TARGET_P99_MS}
    result["targets_met"] = {
        f"{key}_p99_under_100ms": figures["p99_ms"] < TARGET_P99_MS for key, figures in pages.items()
    }
    result["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


def serve_pages(body_dir: str, fd: int) -> None:
    """The floor: GET /page/{key} answers the bytes pager served for that page with its media type."""
    from fastapi import FastAPI, Response

    folder = Path(body_dir)
    pages = {
        path.name: (path.read_bytes(), (folder / f"{path.name}.type").read_text())
        for path in folder.iterdir()
        if not path.name.endswith(".type")
    }
    app = FastAPI()

    @app.get("/page/{key}")
    def page(key: str) -> Response:
        content, media_type = pages[key]
        return Response(content=content, media_type=media_type)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    run_on_fd(app, fd)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-pager"]:
        from feeds import serve_pager

        serve_pager(sys.argv[2], sys.argv[3], int(sys.argv[4]), demo=True)
    elif sys.argv[1:2] == ["--serve-pages"]:
        serve_pages(sys.argv[2], int(sys.argv[3]))
    else:
        main()
