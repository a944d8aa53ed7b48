"""A PostgreSQL server of the test's own (`initdb` + `pg_ctl` in a temp dir), to stop and start at will.

It listens on 127.0.0.1 only, on a free port (never 5432: the machine's shared server must not be
touched), with trust authentication and its Unix socket in its own directory. PostgreSQL refuses to
run as root, so when the tests run as root every command runs as the `postgres` OS user (`runuser`)
and the directory is handed to that user. The binaries are found under /usr/lib/postgresql/*/bin or
on PATH; without them the test fails (the fault test must run wherever the suite runs).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
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
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options, "-w")

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m <mode>`: every connection is cut, the port closed."""
        self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w")

    def running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

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
            shutil.rmtree(root, ignore_errors=True)
