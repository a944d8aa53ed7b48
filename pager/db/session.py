"""Engines, sessions and schema migrations.

SQLite (the default) runs in WAL mode with a busy timeout and foreign keys on, and every session
opens with `BEGIN IMMEDIATE`: one writer at a time, so a read-then-write (claiming due rows, dedup on
ingest) can never interleave with another writer. Read-only sessions begin DEFERRED and run beside
the writer. Postgres goes through psycopg 3 and relies on row locks (`FOR UPDATE SKIP LOCKED`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from pager.db import json_codec

SQLITE_BUSY_TIMEOUT_MS = 15_000
# Execution option read by the SQLite `begin` hook: DEFERRED, IMMEDIATE or EXCLUSIVE.
SQLITE_BEGIN_OPTION = "pager_sqlite_begin"
_SQLITE_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})


# Statement parameters stay out of error messages and tracebacks: they hold integration keys,
# token hashes and phone numbers.
_JSON: dict[str, Any] = {
    "json_serializer": json_codec.dumps,
    "json_deserializer": json_codec.loads,
    "hide_parameters": True,
}
POSTGRES_CONNECT_TIMEOUT_S = 5


class WriterBusy(TimeoutError):
    """This process's SQLite writer stayed taken longer than the busy timeout."""


class UnsupportedDatabase(ValueError):
    """The URL names a database other than SQLite or Postgres, or cannot be parsed."""


def database_url(url: str | URL) -> URL:
    """Parse `url`; bare `postgresql://` / `postgres://` get the psycopg 3 driver (the one installed)."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # the message would quote parts of the URL, maybe its password
        raise UnsupportedDatabase(
            "the URL cannot be parsed (is its port a number, are @ : / # in the password percent-encoded?): "
            "use sqlite:///path or postgresql+psycopg://user:pass@host:port/db"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        shown = parsed.render_as_string(hide_password=True)
        raise UnsupportedDatabase(
            f"unsupported database URL {shown}: use sqlite:/// or postgresql+psycopg://"
        )
    return parsed


def create_db_engine(
    url: str | URL,
    *,
    echo: bool = False,
    sqlite_foreign_keys: bool = True,
    sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
) -> Engine:
    """An engine for `url` (SQLite or Postgres), configured as the module docstring says.

    `sqlite_foreign_keys=False` is for migrations only: SQLite batch migrations rebuild tables,
    and with foreign keys on, dropping the old copy would cascade into the rows that reference it.
    """
    parsed = database_url(url)
    if parsed.get_backend_name() == "postgresql":
        # A database host that drops packets would otherwise hold a request for minutes.
        connect = {} if "connect_timeout" in parsed.query else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
        return create_engine(parsed, echo=echo, pool_pre_ping=True, connect_args=connect, **_JSON)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": sqlite_busy_timeout_ms / 1000}}
    if parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory":
        # Every pooled connection would otherwise get its own empty in-memory database.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    engine = create_engine(parsed, echo=echo, **kwargs, **_JSON)
    _configure_sqlite(engine, foreign_keys=sqlite_foreign_keys, busy_timeout_ms=sqlite_busy_timeout_ms)
    return engine


def _configure_sqlite(engine: Engine, *, foreign_keys: bool, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (it would begin lazily, DEFERRED, and not for
        # SELECT); the `begin` hook below emits it instead. PRAGMAs must run outside a transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        mode = str(connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")).upper()
        if mode not in _SQLITE_BEGIN_MODES:
            raise ValueError(
                f"{SQLITE_BEGIN_OPTION} must be one of {sorted(_SQLITE_BEGIN_MODES)}, not {mode!r}"
            )
        connection.exec_driver_sql(f"BEGIN {mode}")


_writer_locks: dict[object, threading.RLock] = {}
_writer_locks_guard = threading.Lock()


def _writer_lock(engine: Engine) -> threading.RLock | None:
    """SQLite has one writer at a time: this process's writers queue here, not in SQLite's busy handler.

    The busy handler sleeps in growing steps while the lock may already be free, which turned a
    few milliseconds of queueing into seconds under concurrent requests. Other processes still meet
    at SQLite's own lock (and its busy timeout). One lock per database file, whichever engine opens
    it (the heartbeat has an engine of its own); an in-memory database is its engine's alone.
    Re-entrant, so a nested session on the same thread behaves as it did before.
    """
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return None
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    database = str(url.database)
    key: object = (
        id(engine) if in_memory else _real_path(database, "" if os.path.isabs(database) else os.getcwd())
    )
    with _writer_locks_guard:
        return _writer_locks.setdefault(key, threading.RLock())


@lru_cache(maxsize=64)
def _real_path(database: str, cwd: str) -> str:
    # Once per file (and working directory), not per transaction: a few stat calls each time.
    return os.path.realpath(os.path.join(cwd, database))


@contextmanager
def session_scope(
    engine: Engine, *, read_only: bool = False, writer_wait_s: float = SQLITE_BUSY_TIMEOUT_MS / 1000
) -> Iterator[Session]:
    """A session whose transaction commits when the block ends and rolls back if it raises.

    Objects stay readable after commit (`expire_on_commit=False`). `read_only=True` only changes
    SQLite's BEGIN to DEFERRED, so the session does not queue behind the writer; it must not write.
    Enter and leave it on one thread, within one call: never from a FastAPI yield dependency, which
    FastAPI enters and leaves on different threads (the SQLite writer lock could then never be
    released). HTTP routes go through `pager.services.transactions`. A writer waits at most
    `writer_wait_s` for this process's SQLite writer lock, then raises WriterBusy.
    """
    bind = engine.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"}) if read_only else engine
    lock = None if read_only else _writer_lock(engine)
    # Bounded like SQLite's own busy timeout: a writer that never gives the lock back shows up as
    # errors (503 at the HTTP edge, a logged failed pass in the worker), never as silence.
    if lock is not None and not lock.acquire(timeout=writer_wait_s):
        raise WriterBusy(f"the database writer has been busy for {writer_wait_s:g} s")
    session = Session(bind, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        if lock is not None:
            lock.release()


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A Core connection for reads: cheaper than an ORM session, and on SQLite its transaction
    begins DEFERRED, so it never queues behind the writer (it must not write)."""
    with engine.connect() as connection:
        yield connection.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})


def is_postgres(bind: OrmSession | Engine | Connection) -> bool:
    """True when the database behind `bind` (a session, SQLModel's or SQLAlchemy's, an engine or a
    connection) is PostgreSQL (False: SQLite)."""
    dialect = bind.get_bind().dialect if isinstance(bind, OrmSession) else bind.dialect
    return dialect.name == "postgresql"


_NOTIFY = text("SELECT pg_notify(:channel, :payload)")
NOTIFY_QUEUE_FULL = "54000"


def postgres_notify_on_commit(session: Session, channel: str, payload: str) -> None:
    """`pg_notify(channel, payload)` in the session's transaction: Postgres delivers it when the
    transaction commits, never if it rolls back; one statement on the transaction's connection, with
    no checkout, ping or commit of its own."""
    session.connection().execute(_NOTIFY, {"channel": channel, "payload": payload})


def notify_queue_full(error: DBAPIError) -> bool:
    """Whether Postgres refused a commit because its NOTIFY queue is full (SQLSTATE 54000,
    program_limit_exceeded, the code it raises then)."""
    return getattr(error.orig, "sqlstate", None) == NOTIFY_QUEUE_FULL


def postgres_notify(engine: Engine, channel: str, payload: str) -> None:
    """`pg_notify(channel, payload)` on one of the pool's connections, in autocommit: the statement
    alone, one round trip after the pool's ping, where a transaction of its own was BEGIN and COMMIT
    more. Through the Connection, so statement events (the tests' statement budgets, tracing) see it.
    """
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        assert driver is not None, "a checked-out connection has its driver connection"
        try:
            driver.autocommit = True  # psycopg: a client-side switch while no transaction is open
            connection.exec_driver_sql(
                "SELECT pg_notify(%(channel)s, %(payload)s)", {"channel": channel, "payload": payload}
            )
            driver.autocommit = False  # nothing is open: the Connection's closing rollback sends nothing
        except BaseException:
            connection.invalidate()  # never back to the pool in autocommit, nor half broken
            raise
