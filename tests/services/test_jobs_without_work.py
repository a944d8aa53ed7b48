"""The worker's every-few-seconds jobs, with nothing to do, lock nothing a trigger needs.

On SQLite a write transaction holds the one writer lock that every trigger waits for; the
reconcile job runs every second and the handoff job every five, and both almost always find
nothing to do. So while another connection holds the writer lock (or, on Postgres, the handoff
cursor rows), a run with nothing to do must still finish at once. Without the read-first check each
of them queued behind the lock for the whole busy timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import col, select

from pager.db.migrate import upgrade_schema
from pager.db.session import create_db_engine, session_scope
from pager.db.tables import HandoffCursor
from pager.services.calendars.handoffs import CURSOR_MAX_LAG, run_handoffs
from pager.services.delivery.reconciliation import reconcile_uncertain
from pager.services.runtime import Runtime
from tests import support
from tests.services.test_engine import T0, write_config
from tests.services.test_handoffs import runtime  # noqa: F401 (alice and bob, reachable by SMS)

S = timedelta(seconds=1)


@contextmanager
def writer_lock_held(engine: Engine) -> Iterator[None]:
    """Another connection holds what a writing job would wait for until the block ends."""
    with engine.connect() as connection:
        transaction = connection.begin()  # SQLite: BEGIN IMMEDIATE (pager.db.session's begin hook)
        if engine.dialect.name != "sqlite":
            connection.execute(text("SELECT schedule_id FROM handoff_cursors FOR UPDATE"))
        try:
            yield
        finally:
            transaction.rollback()


def finishes_while_locked(engine: Engine, work: Callable[[], int]) -> int:
    results: list[int] = []
    with writer_lock_held(engine):
        thread = threading.Thread(target=lambda: results.append(work()), daemon=True)
        thread.start()
        thread.join(timeout=3)
        assert not thread.is_alive(), "the job waited for the lock with nothing to do"
    return results[0]


def cursor_until(built: Runtime) -> object:
    with session_scope(built.engine, read_only=True) as session:
        query = select(HandoffCursor.checked_until).where(col(HandoffCursor.schedule_id) == "team")
        return session.exec(query).one()


@pytest.mark.database
def test_handoff_job_with_nothing_due_takes_no_lock(runtime: Runtime) -> None:  # noqa: F811
    assert run_handoffs(runtime, T0 - 60 * S) == 0  # creates the cursor: a write
    assert finishes_while_locked(runtime.engine, lambda: run_handoffs(runtime, T0 - 30 * S)) == 0
    # The cursor lags behind (harmless: the queued keys drop what was sent) until it is moved on.
    assert cursor_until(runtime) == T0 - 60 * S
    # The handoff at T0 still goes out, once.
    assert run_handoffs(runtime, T0 + S) == 2
    assert run_handoffs(runtime, T0 + 6 * S) == 0
    assert cursor_until(runtime) == T0 + S
    # A cursor with nothing behind it is still moved on now and then.
    assert run_handoffs(runtime, T0 + S + CURSOR_MAX_LAG) == 0
    assert cursor_until(runtime) == T0 + S + CURSOR_MAX_LAG


def test_reconcile_with_nothing_uncertain_takes_no_writer_lock(tmp_path: Path) -> None:
    # SQLite only: on Postgres the claim skips locked rows, so there is no one lock to wait for.
    url = f"sqlite:///{tmp_path / 'pager.db'}"
    upgrade_schema(url)
    engine = create_db_engine(url)
    try:
        runtime = support.console_runtime(engine, write_config(tmp_path / "config"))
        assert finishes_while_locked(engine, lambda: reconcile_uncertain(runtime, T0)) == 0
    finally:
        engine.dispose()
