"""Secrets at start-up, as users meet them: `pager serve` and `pager worker` refuse to start without a
usable PAGER_SECRET_KEY, or with a PAGER_SMTP_URL that would send its password in clear or that cannot
be parsed (never showing the password); `pager demo` makes a key, keeps it beside its SQLite database
and reuses it on the next run.

Every process here is the real CLI in a child process.
"""

from __future__ import annotations

import re
import signal
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import clean_environment, pager_command, stop_process, wait_until
from tests.e2e.server_process import free_port, write_config

pytestmark = pytest.mark.e2e

MAKE_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated SQLite database and a valid config: with a key, serve and worker would start."""
    root = tmp_path_factory.mktemp("refusals")
    env = clean_environment(
        PAGER_DATABASE_URL=f"sqlite:///{root / 'pager.db'}",
        PAGER_CONFIG_DIR=str(write_config(root / "config")),
    )
    done = subprocess.run(pager_command("db", "upgrade"), env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return env


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (None, "PAGER_SECRET_KEY is not set"),
        ("", "PAGER_SECRET_KEY is not set"),
        ("x" * 31, "PAGER_SECRET_KEY is 31 bytes long; it needs at least 32"),
        ("é" * 15 + "y", "PAGER_SECRET_KEY is 31 bytes long"),  # 16 characters, 31 bytes of UTF-8
    ],
    ids=["missing", "empty", "31-bytes", "31-utf8-bytes"],
)
def test_serve_and_worker_refuse_to_start_without_a_usable_key(
    migrated: dict[str, str], tmp_path: Path, command: str, key: str | None, problem: str
) -> None:
    env = dict(migrated)
    if key is not None:
        env["PAGER_SECRET_KEY"] = key
    args = ("serve", "--port", str(free_port())) if command == "serve" else ("worker",)
    # Were the key not checked, the process would start and keep running: the timeout ends the test.
    done = subprocess.run(
        pager_command(*args), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: {problem}")
    assert MAKE_KEY in done.stderr
    if key:
        assert key not in done.stderr


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    ("smtp_url", "problem"),
    [
        ("smtp://pager:hunter2-pw@mail.example.org:25", "PAGER_SMTP_URL has credentials but no TLS"),
        ("smtp://pager:hunter2-pw#@mail.example.org:587?starttls=1", "PAGER_SMTP_URL cannot be parsed"),
        ("smtp://pager:hunter2-pw@:587?starttls=1", "PAGER_SMTP_URL names no host"),
    ],
    ids=["no-tls", "unencoded-hash", "no-host"],
)
def test_an_unusable_smtp_url_is_refused_at_start_without_showing_its_password(
    migrated: dict[str, str], tmp_path: Path, command: str, smtp_url: str, problem: str
) -> None:
    env = migrated | {"PAGER_SECRET_KEY": "k" * 32, "PAGER_SMTP_URL": smtp_url}
    args = ("serve", "--port", str(free_port())) if command == "serve" else ("worker",)
    done = subprocess.run(
        pager_command(*args), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(f"error: {problem}"), done.stderr
    assert "hunter2" not in done.stderr and "pw" not in done.stderr


def test_a_key_of_32_utf8_bytes_is_enough(migrated: dict[str, str], tmp_path: Path) -> None:
    # 16 characters but 32 bytes: the rule counts bytes. The worker starts, and is stopped.
    env = migrated | {"PAGER_SECRET_KEY": "é" * 16}
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(pager_command("worker"), env=env, cwd=tmp_path, stdout=log, stderr=log)
    try:
        wait_until("the worker to start", lambda: "worker_started" in log_path.read_text(), timeout=30)
    finally:
        stop_process(process)


# -- the demo -----------------------------------------------------------------------------------------


@contextmanager
def running_demo(root: Path, config_dir: Path, output: Path) -> Iterator[str]:
    """`pager demo` on `root/data/demo.db` without PAGER_SECRET_KEY; yields its URL, stops it on exit."""
    port = free_port()
    env = clean_environment(
        PAGER_DATABASE_URL=f"sqlite:///{root / 'data' / 'demo.db'}",
        PAGER_CONFIG_DIR=str(config_dir),
        PYTHONUNBUFFERED="1",
    )
    with output.open("wb") as log:
        process = subprocess.Popen(
            pager_command("demo", "--port", str(port)), env=env, cwd=root, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"pager demo exited with {process.returncode}:\n{output.read_text()}")
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until("pager demo to serve", ready, timeout=30)
        yield url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        stop_process(process)


def test_demo_makes_a_key_beside_its_database_and_reuses_it(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    (root / "data").mkdir(parents=True)
    config_dir = write_config(tmp_path / "config")
    key_file = root / "data" / "pager-secret.key"

    first_output = tmp_path / "demo-1.log"
    with running_demo(root, config_dir, first_output) as url:
        text = first_output.read_text()
        assert f"email links are signed with the key made now and kept in {key_file}" in text
        # Who is on call now comes first (what `make run` shows before the demo serves).
        assert "NEXT PRIMARY HANDOFF (UTC)" in text and re.search(r"^team\s+UTC\s+ann\s+-\s", text, re.M), (
            text
        )
        routing_key = re.search(r"^\s+checkout-api\s+([0-9a-f]{32})$", text, re.M)
        assert routing_key is not None, text
        event = {
            "routing_key": routing_key.group(1),
            "event_action": "trigger",
            "payload": {"summary": "Disk full", "source": "db-1", "severity": "critical"},
        }
        assert httpx.post(f"{url}/v2/enqueue", json=event, timeout=10).status_code == 202
        # The console notifier logs the email page, links included.
        link = wait_until(
            "the email page with its links",
            lambda: re.search(r"page method=email .*?/ack/([A-Za-z0-9_.-]+)", first_output.read_text()),
            timeout=20,
        )
        token = link.group(1)
    key = key_file.read_text()
    tokens_file = root / "data" / "pager-demo-tokens.json"
    admin = re.search(
        r"^admin API token \(made now, kept in (\S+)\): (pgr_\S+)$", first_output.read_text(), re.M
    )
    assert admin is not None and admin.group(1) == str(tokens_file), first_output.read_text()
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    assert len(key.strip().encode()) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key.strip() not in first_output.read_text()

    second_output = tmp_path / "demo-2.log"
    with running_demo(root, config_dir, second_output) as url:
        assert f"email links are signed with the key kept in {key_file}" in second_output.read_text()
        # A link mailed by the first run still checks out: the second run signs with the same key.
        confirmation = httpx.get(f"{url}/ack/{token}", timeout=10)
        assert confirmation.status_code == 200, confirmation.text
        assert "Acknowledge alert 1?" in confirmation.text
    assert key_file.read_text() == key
    # The second run reused the admin token the first one kept, instead of minting another.
    assert f"admin API token (reused, kept in {tokens_file}): {admin.group(2)}" in second_output.read_text()
