"""Real processes for the worker's end-to-end tests: `pager worker`, the fake Twilio server, an SMTP sink.

The database is the suite's own (`empty_database_url`: a SQLite file in tmp_path, or a fresh Postgres
schema when PAGER_TEST_DATABASE_URL is set), migrated with `pager db upgrade` as a user would. The
config directory holds one schedule (ann is always primary) and a two-level policy with
`escalate_after: 3s` (level 2 pages cat). The worker and the fake Twilio server are subprocesses; the
SMTP sink runs in the test process. Every subprocess is killed when the test ends, whatever happened.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import make_url, text

from pager.db.session import session_scope
from pager.services.alerting.catalog import sync_services
from pager.services.people.users import add_user
from pager.services.runtime import Runtime, build_runtime
from pager.settings import Settings
from pager.testing.smtp_sink import SmtpSink

ACCOUNT_SID = "AC" + "e2e0" * 8
AUTH_TOKEN = "e2e-auth-token-" + "0" * 17
FROM_NUMBER = "+15005550006"
SECRET_KEY = "e2e-worker-secret-key-" + "w" * 16  # serve and worker refuse to start without 32 bytes
ANN = {"handle": "ann", "name": "Ann Primary", "sms": "+15555550101", "email": "ann@example.com"}
CAT = {"handle": "cat", "name": "Cat Lead", "sms": "+15555550102", "email": "cat@example.com"}
SERVICE = "web"
ESCALATE_AFTER = 3.0
# Short enough that a page orphaned in `sending` by a killed worker is reconciled within the test.
SENDING_LEASE_SECONDS = 2.0

SCHEDULE = """name: Team
time_zone: UTC
layers:
  - name: weekly
    members: [ann]
    start: 2026-01-05T09:00
    shift: 1w
"""
POLICY = """name: Fast
repeat: 0
ack_timeout: 0
levels:
  - notify: [schedule:team]
    escalate_after: 3s
  - notify: [user:cat]
    escalate_after: 3s
services:
  - {id: web, name: Web shop}
"""

T = TypeVar("T")


def wait_until(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.02) -> T:
    """Poll `probe` until it returns something other than None/False; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def pager_command(*args: str) -> list[str]:
    """The `pager` CLI of this checkout, as a subprocess command line."""
    return [sys.executable, "-c", "from pager.cli import app; app()", *args]


def worker_command() -> list[str]:
    """`pager worker` when the CLI has it, else the worker's entry point called directly."""
    from pager.cli import app

    if any(command.name == "worker" for command in app.registered_commands):
        return pager_command("worker")
    code = (
        "import logging; logging.basicConfig(level=logging.INFO); "
        "from pager.services.runtime import build_runtime; from pager.worker import run_worker; "
        "run_worker(build_runtime())"
    )
    return [sys.executable, "-c", code]


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any PAGER_/TWILIO_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGER_", "TWILIO_"))}
    return env | extra


def open_files_limit(count: int | None) -> Callable[[], None] | None:
    """A `preexec_fn` lowering the child's descriptor limit (RLIMIT_NOFILE), soft and hard, to
    `count` (None: the limit is left as it is)."""
    if count is None:
        return None
    return partial(resource.setrlimit, resource.RLIMIT_NOFILE, (count, count))


def stop_process(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 5 s; always reaped."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@dataclass(frozen=True)
class ReceivedMail:
    """One mail the sink accepted, and when."""

    at: datetime
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


class TimedSmtpSink(SmtpSink):
    """The SMTP sink, also noting when each mail arrived (the test measures paging latency with it)."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[ReceivedMail] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        at = datetime.now(UTC)
        reply = await super().handle_DATA(server, session, envelope)
        delivery = self.deliveries[-1]  # appended by the call above, on this (the only) server thread
        self.received.append(ReceivedMail(at, delivery.rcpt_tos, delivery.message))
        return reply


class FakeTwilioProcess:
    """`python -m pager.testing.fake_twilio` as a subprocess, read and programmed over `/_fake/`."""

    def __init__(self, log_path: Path) -> None:
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pager.testing.fake_twilio",
                "--port",
                "0",
                "--account-sid",
                ACCOUNT_SID,
                "--auth-token",
                AUTH_TOKEN,
            ],
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=clean_environment(),
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], 15)
        line = self.process.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("http://"):
            self.stop()
            raise AssertionError(f"fake Twilio did not start: {line!r}; see {log_path}")
        self.url = line

    def stop(self) -> None:
        stop_process(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()

    def _call(self, method: str, path: str, doc: dict[str, Any] | None = None) -> Any:
        data = None if doc is None else json.dumps(doc).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def requests(self) -> list[dict[str, Any]]:
        """Every API request the fake received, oldest first (`time` parsed to a datetime)."""
        recorded: list[dict[str, Any]] = self._call("GET", "/_fake/requests")
        return [r | {"time": datetime.fromisoformat(r["time"])} for r in recorded]

    def messages(self) -> list[dict[str, Any]]:
        """Messages the fake created (what Twilio has on record), oldest first."""
        created: list[dict[str, Any]] = self._call("GET", "/_fake/messages")
        return created

    def go_down(self, seconds: float) -> None:
        """An outage: connections are refused for `seconds`, then it serves again on the same port,
        with everything it had on record."""
        self._call("POST", "/_fake/outage", {"seconds": seconds})

    def hang_next_create_to(self, number: str, delay: float | None = None) -> None:
        """The next create addressed to `number` is recorded (Twilio has it) but answered only after
        `delay` seconds (None: never)."""
        fault = {"kind": "hang", "to": number, "count": 1, "record": True, "delay": delay}
        self._call("POST", "/_fake/faults", fault)


@dataclass
class WorkerProcess:
    """One `pager worker` subprocess, its output in a log file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    application_name: str
    spawned_at: datetime

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def started_at(self) -> datetime:
        """When the worker logged `worker_started` (it is running and about to take up its loops)."""
        for line in self.log().splitlines():
            if " worker_started " in line and line.startswith("ts="):
                return datetime.fromisoformat(line.split(" ", 1)[0].removeprefix("ts="))
        raise AssertionError(f"the worker has not started:\n{self.log()}")

    def kill9(self) -> None:
        """`kill -9`: no clean-up of any kind, as in a crash or an OOM kill."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=5)


@dataclass
class PagingSetup:
    """Everything a test drives: the test's own runtime (to trigger and read), the fakes, the workers."""

    database_url: str
    config_dir: Path
    runtime: Runtime
    twilio: FakeTwilioProcess
    smtp: TimedSmtpSink
    tmp_path: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    def start_worker(self, *args: str, open_files: int | None = None) -> WorkerProcess:
        """Start `pager worker [args]` against the test database and the fakes (does not wait for
        it); `open_files` lowers its descriptor limit (RLIMIT_NOFILE) to that many."""
        number = len(self.workers) + 1
        application_name = f"pager-e2e-worker-{uuid.uuid4().hex[:8]}"
        url = make_url(self.database_url)
        if url.get_backend_name() == "postgresql":
            url = url.update_query_dict({"application_name": application_name})
        env = clean_environment(
            PAGER_DATABASE_URL=url.render_as_string(hide_password=False),
            PAGER_CONFIG_DIR=str(self.config_dir),
            PAGER_PUBLIC_URL="http://127.0.0.1:9",
            PAGER_SECRET_KEY=SECRET_KEY,
            PAGER_TWILIO_API_BASE=self.twilio.url,
            PAGER_SMTP_URL=self.smtp.url,
            PAGER_SENDING_LEASE_SECONDS=str(SENDING_LEASE_SECONDS),
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_FROM_NUMBER=FROM_NUMBER,
        )
        log_path = self.tmp_path / f"worker-{number}.log"
        spawned_at = datetime.now(UTC)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*worker_command(), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.tmp_path,
                preexec_fn=open_files_limit(open_files),
            )
        worker = WorkerProcess(process, log_path, application_name, spawned_at)
        self.workers.append(worker)
        return worker

    def wait_ready(self, worker: WorkerProcess, timeout: float = 20.0) -> None:
        """Wait until the worker runs and listens for wake-ups (so a trigger reaches it at once)."""

        def started() -> bool:
            if worker.process.poll() is not None:
                raise AssertionError(f"worker exited with {worker.process.returncode}:\n{worker.log()}")
            return "worker_started" in worker.log()

        wait_until("the worker to start", started, timeout)
        if self.runtime.engine.url.get_backend_name() == "postgresql":
            wait_until("the worker's LISTEN", lambda: self._listening(worker), timeout)

    def _listening(self, worker: WorkerProcess) -> bool:
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name AND query ILIKE 'LISTEN %'"
        )
        with self.runtime.engine.connect() as connection:
            return bool(connection.execute(query, {"name": worker.application_name}).scalar_one())

    def logs(self) -> str:
        """Every worker's output, for failure messages."""
        return "\n".join(
            f"--- {w.log_path.name} (spawned {w.spawned_at.isoformat()}) ---\n{w.log()}" for w in self.workers
        )


def migrate(database_url: str, cwd: Path) -> None:
    """`pager db upgrade` in a subprocess, as an operator would run it."""
    done = subprocess.run(
        pager_command("db", "upgrade"),
        env=clean_environment(PAGER_DATABASE_URL=database_url),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def e2e_database_url(empty_database_url: str, tmp_path: Path) -> str:
    """The test's own database, migrated by `pager db upgrade` in a subprocess."""
    migrate(empty_database_url, tmp_path)
    return empty_database_url


@pytest.fixture
def e2e_config_dir(tmp_path: Path) -> Path:
    """A config directory: schedule `team` (ann is primary) and policy `fast` for service `web`."""
    root = tmp_path / "config"
    (root / "schedules").mkdir(parents=True)
    (root / "escalation_policies").mkdir()
    (root / "schedules" / "team.yaml").write_text(SCHEDULE, encoding="utf-8")
    (root / "escalation_policies" / "fast.yaml").write_text(POLICY, encoding="utf-8")
    return root


@pytest.fixture
def paging(e2e_database_url: str, e2e_config_dir: Path, tmp_path: Path) -> Iterator[PagingSetup]:
    """Users ann and cat (sms, voice, email), the service row, the fakes; workers killed at the end."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=e2e_database_url, config_dir=e2e_config_dir, secret_key=SECRET_KEY
    )
    runtime = build_runtime(settings)
    now = datetime.now(UTC)
    with session_scope(runtime.engine) as session:
        for person in (ANN, CAT):
            add_user(
                session,
                handle=person["handle"],
                name=person["name"],
                now=now,
                sms=person["sms"],
                voice=person["sms"],
                email=person["email"],
            )
        # Before any worker starts: two processes creating the same service row would collide.
        sync_services(session, runtime.config, now)
    twilio = FakeTwilioProcess(tmp_path / "fake-twilio.log")
    smtp = TimedSmtpSink()
    smtp.start()
    setup = PagingSetup(e2e_database_url, e2e_config_dir, runtime, twilio, smtp, tmp_path)
    try:
        yield setup
    finally:
        for worker in setup.workers:
            stop_process(worker.process)
        twilio.stop()
        smtp.stop()
        runtime.engine.dispose()
