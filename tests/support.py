"""Pieces many test modules share: a config directory from YAML snippets, a runtime, a fake clock."""

from __future__ import annotations

import logging
import shutil
import textwrap
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from pager.adapters.console import ConsoleNotifier
from pager.adapters.delivery import Method, Notifier
from pager.api.client_shares import RefusalLog
from pager.config.loader import load_config
from pager.db.outbox import ClaimedPage, due_outbox, mark_sending
from pager.services.runtime import Runtime
from pager.settings import Settings

TEST_SECRET_KEY = "tests-only-secret-key-" + "k" * 16
BAD_SCHEDULES = Path(__file__).resolve().parent / "fixtures" / "schedules_bad"


def read_bad_cases() -> list[tuple[str, str, int, str]]:
    """The cases listed in schedules_bad/expected.txt: (file, file the error is in, line, message start)."""
    cases = []
    for row in (BAD_SCHEDULES / "expected.txt").read_text(encoding="utf-8").splitlines():
        if row.strip() and not row.startswith("#"):
            name, located = row.split(maxsplit=1)
            at_file, line, message = located.split(":", 2)
            cases.append((name, at_file, int(line), message.strip()))
    return cases


def copy_bad_case(name: str, config_dir: Path) -> Path:
    """The bad file (and every .ics fixture, so only the case's own fault shows) in config_dir/schedules."""
    target = config_dir / "schedules"
    target.mkdir(parents=True, exist_ok=True)
    for ics in BAD_SCHEDULES.glob("*.ics"):
        shutil.copy(ics, target / ics.name)
    shutil.copy(BAD_SCHEDULES / name, target / name)
    return target / name


def write_config(root: Path, schedules: Mapping[str, str], policies: Mapping[str, str]) -> Path:
    """`root/schedules/<id>.yaml` and `root/escalation_policies/<id>.yaml` from indented snippets."""
    for folder, files in (("schedules", schedules), ("escalation_policies", policies)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (root / folder / f"{name}.yaml").write_text(textwrap.dedent(text))
    return root


def console_runtime(
    engine: Engine,
    config_dir: Path,
    notifiers: Mapping[Method, Notifier] | None = None,
    **settings: Any,
) -> Runtime:
    """A runtime on the test database and a valid config; pages go to console notifiers unless given.

    `settings` override Settings fields; the secret key defaults to TEST_SECRET_KEY.
    """
    config = load_config(config_dir)
    assert config.errors == [], config.errors
    settings.setdefault("secret_key", TEST_SECRET_KEY)  # as serve and worker require one
    chosen: dict[Method, Notifier] = {m: ConsoleNotifier(m) for m in ("sms", "voice", "email")}
    chosen.update(notifiers or {})
    return Runtime(
        engine=engine,
        settings=Settings(database_url=str(engine.url), config_dir=config_dir, **settings),
        config=config,
        notifiers=chosen,
    )


class Clock:
    """A settable clock: call it for `now`; tests move `now` by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by `timedelta(**delta)` and return the new now."""
        self.now += timedelta(**delta)
        return self.now


def claim_due_outbox(session: Session, now: datetime, *, limit: int = 100) -> list[ClaimedPage]:
    """Take the due pages and mark them all `sending`, as a claim that holds none back does
    (pager.services.delivery.claiming decides first and marks only the pages it sends)."""
    claimed = due_outbox(session, now, limit=limit)
    mark_sending(session, [page.id for page in claimed], now)
    return claimed


@contextmanager
def statements_sent(engine: Engine, *, leave_out: tuple[str, ...] = ()) -> Iterator[list[str]]:
    """The SQL statements `engine` is sent inside the block, whitespace collapsed to single spaces;
    those starting with a word of `leave_out` (e.g. "BEGIN", any case) are left out."""
    sent: list[str] = []
    skip = tuple(word.upper() for word in leave_out)

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        text = " ".join(statement.split())
        if not text.upper().startswith(skip):
            sent.append(text)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


class CountingArrivals:
    """The app, counting the requests for paths starting with `prefix` that reached it."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app, self.prefix = app, prefix
        self.arrived = 0
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            with self._lock:
                self.arrived += 1
        await self.app(scope, receive, send)


class StuckReads:
    """Holds every statement naming `table` until `release()` (a slow or locked database, for the
    flood tests); `held` counts the statements held."""

    def __init__(self, engine: Engine, table: str) -> None:
        self.engine, self.table = engine, table
        self.held = 0
        self._count = threading.Lock()
        self._gate = threading.Event()

    def __enter__(self) -> StuckReads:
        event.listen(self.engine, "before_cursor_execute", self._hold)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
        event.remove(self.engine, "before_cursor_execute", self._hold)

    def release(self) -> None:
        self._gate.set()

    def _hold(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.table in statement and not self._gate.is_set():
            with self._count:
                self.held += 1
            self._gate.wait(30)


class Refusals:
    """A module's RefusalLog (`module.<name>`) replaced, for one test, by a fresh one on the same
    counter: another test's refusals in the last 10 s must not hold this test's log line back.
    `counted()` reads the counter for `reason` from here on; `lines()` the log lines it wrote."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: object, name: str, reason: str) -> None:
        shared: RefusalLog = getattr(module, name)
        self.log = RefusalLog(shared.event, shared.counter)
        monkeypatch.setattr(module, name, self.log)
        self.reason = reason
        self._before = self._value()

    def counted(self) -> float:
        """Refusals for `reason` counted since this was made."""
        return self._value() - self._before

    def lines(self, records: Iterable[logging.LogRecord]) -> list[str]:
        """The messages among `records` that this log wrote."""
        return [r.getMessage() for r in records if r.getMessage().startswith(f"{self.log.event} ")]

    def _value(self) -> float:
        for metric in self.log.counter.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total") and sample.labels.get("reason") == self.reason:
                    return sample.value
        return 0.0
