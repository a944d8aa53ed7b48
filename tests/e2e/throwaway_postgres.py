"""A PostgreSQL server of the test's own (`initdb` + `pg_ctl` in a temp dir), to stop and start at will.

It listens on 127.0.0.1 only, on a free port (never 5432: the machine's shared server must not be
touched), with trust authentication and its Unix socket in its own directory. PostgreSQL refuses to
run as root, so when the tests run as root every command runs as the `postgres` OS user and the
directory is handed to that user. The server is a child of the test process started through
`setpriv --pdeathsig`, so it shuts down even if the test process is killed before its clean-up runs.
The binaries are found under /usr/lib/postgresql/*/bin or on PATH; without them the test fails (the
fault test must run wherever the suite runs).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SHARED_PORT = 5432
COMMAND_TIMEOUT = 60.0


def postgres_bin_dir() -> Path:
    """The directory holding `initdb` and `pg_ctl` (the newest installed version); fails the test if none."""
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    on_path = shutil.which("initdb")
    if on_path is not None and shutil.which("pg_ctl") is not None:
        return Path(on_path).parent
    pytest.fail(
        "initdb/pg_ctl not found: this test needs a PostgreSQL server of its own (install the server package)"
    )


@dataclass
class ThrowawayPostgres:
    """A stopped or running server; `url` reaches its `postgres` database as superuser `postgres`."""

    bin_dir: Path
    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, cwd=self.root)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done

    def init(self) -> None:
        """`initdb`: a new cluster, trust authentication, superuser `postgres`."""
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )

    def start(self) -> None:
        """Start and wait until it accepts connections (127.0.0.1:port and a socket in `root` only)."""
        user = ["--reuid=postgres", "--regid=postgres", "--clear-groups"] if os.geteuid() == 0 else []
        command = [
            "setpriv",
            *user,
            "--pdeathsig=INT",  # a fast shutdown when the test process goes, however it goes
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"unix_socket_directories={self.root}",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while not self._accepting():
            if self.process.poll() is not None:
                raise AssertionError(f"postgres exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"postgres did not start within {COMMAND_TIMEOUT}s:\n{self.log()}")
            time.sleep(0.05)

    def _accepting(self) -> bool:
        ready = self._run(
            "pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", check=False
        )
        return ready.returncode == 0

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m <mode>`: every connection is cut, the port closed."""
        self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w")
        if self.process is not None:
            self.process.wait(timeout=COMMAND_TIMEOUT)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def throwaway_postgres(port: int) -> Iterator[ThrowawayPostgres]:
    """Create, start and finally stop and delete a server of our own listening on `port`."""
    if port == SHARED_PORT:
        raise ValueError("port 5432 belongs to the machine's shared server")
    bin_dir = postgres_bin_dir()
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="pager-faults-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    server = ThrowawayPostgres(bin_dir, root, port)
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            if server.running():
                server.stop("immediate")
        finally:
            if server.process is not None and server.process.poll() is None:
                server.process.kill()
                server.process.wait(timeout=COMMAND_TIMEOUT)
            shutil.rmtree(root, ignore_errors=True)
