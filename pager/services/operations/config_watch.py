"""Reload schedules and policies when their files change; a bad change is refused, the last good kept."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from pager.services.runtime import Runtime

log = logging.getLogger("pager.config")


def config_fingerprint(config_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """(path, mtime_ns, size) of every config file, incidents.yaml too: cheap to take every few seconds."""
    files: list[Path] = []
    for folder in ("schedules", "escalation_policies"):
        root = config_dir / folder
        if root.is_dir():
            files.extend(p for p in root.iterdir() if p.is_file())
    files.extend(p for p in (config_dir / "incidents.yaml",) if p.is_file())
    return tuple(sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files))


class ConfigWatcher:
    """A daemon thread that polls the config folder and calls `runtime.reload_config()` on change."""

    def __init__(self, runtime: Runtime, interval: float = 2.0) -> None:
        self.runtime = runtime
        self.interval = interval
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
        return self.runtime.reload_config()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_now()
            except Exception:
                log.exception("config_watch_failed")
