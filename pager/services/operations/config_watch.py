"""Reload schedules and policies when their files change; a bad change is refused, the last good kept."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from pager.services.alerting.catalog import sync_declared_services
from pager.services.runtime import Runtime

log = logging.getLogger("pager.config")


def config_fingerprint(config_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime_ns, size) of every config file, incidents.yaml too: cheap to take every few seconds."""
    files: list[Path] = []
    for folder in ("schedules", "escalation_policies"):
        root = config_dir / folder
        if root.is_dir():
            files.extend(p for p in root.iterdir() if p.is_file())
    files.extend(p for p in config_dir.glob("*.yaml") if p.is_file())  # incidents.yaml
    return tuple(sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files))


def reload_and_sync(runtime: Runtime, now: datetime) -> bool:
    """Reload the config; when it is good, bring the service and heartbeat-monitor rows in line with
    it (a new service gets its integration key, a removed heartbeat stops raising misses) at once,
    not at the next restart. False (the last good config kept, each problem logged) when refused."""
    if not runtime.reload_config():
        return False
    try:
        sync_declared_services(runtime.engine, runtime.config, now)
    except SQLAlchemyError as exc:
        # The new config is in use; its rows follow at the next reload or restart.
        log.error("config_sync_failed %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return True


class ConfigWatcher:
    """A daemon thread that polls the config folder and calls `reload_and_sync` on change."""

    def __init__(
        self,
        runtime: Runtime,
        interval: float = 2.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.runtime = runtime
        self.interval = interval
        self.clock = clock
        self._stop = threading.Event()
        self._seen = config_fingerprint(runtime.config_dir)
        self._thread = threading.Thread(target=self._run, name="pager-config-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def check_now(self) -> bool | None:
        """Reload if anything changed: True reloaded, False refused (logged), None unchanged."""
        current = config_fingerprint(self.runtime.config_dir)
        if current == self._seen:
            return None
        self._seen = current
        return reload_and_sync(self.runtime, self.clock())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_now()
            except Exception:
                log.exception("config_watch_failed")
