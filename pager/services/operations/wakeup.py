"""Waking the worker the moment there is work, so a new alert does not wait for the next tick.

In one process a threading.Event does it. Across processes: Postgres LISTEN/NOTIFY, and for SQLite
a Unix datagram socket beside the database file. The 1-second tick stays the safety net: a lost
wake-up only costs up to a second, never a page.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from pager.db.session import is_postgres, postgres_notify, postgres_notify_on_commit

log = logging.getLogger("pager.wakeup")

CHANNEL = "pager_wake"
WAKE_TOPICS = ("escalation", "delivery")  # the worker's loops
# Marks the wake-ups this process sends after waking its own loops (`woken_here`): its own listener
# skips them. Postgres delivers a NOTIFY to every listener, the sender's too, so an API process with
# its worker inside ran the delivery loop twice per trigger group (the Waker's wake, then the echo).
PROCESS_TAG = uuid.uuid4().hex[:16]


class Waker:
    """In-process wake-up flags: each waiting loop subscribes its own, and `wake()` sets them all.

    A loop may subscribe to a topic (the worker's are "escalation" and "delivery"); `wake(topic)`
    then sets only that topic's flags and those of loops without one. A new alert's pages need only
    the delivery loop: waking the escalation loop too would run an empty claim for every trigger.
    A loop may also say whether it takes work of its topic at once (`takes_work`): `wake` tells the
    caller, which then need not wake the workers of other processes (`wake_workers`).
    """

    def __init__(self) -> None:
        self._default = threading.Event()
        self._events: list[tuple[str | None, threading.Event, Callable[[], bool] | None]] = [
            (None, self._default, None)
        ]
        self._lock = threading.Lock()

    def subscribe(
        self, topic: str | None = None, *, takes_work: Callable[[], bool] | None = None
    ) -> threading.Event:
        """A flag of one's own, so one loop's wake-up is never consumed by another; `takes_work`
        answers whether the loop, woken now, runs the work of `topic` at once."""
        event = threading.Event()
        with self._lock:
            self._events.append((topic, event, takes_work))
        return event

    def wake(self, topic: str | None = None) -> bool:
        """Ask every waiting loop to run now (with a topic: the loops of that topic, and untopical ones).

        True when a loop subscribed to `topic` itself says it takes that work at once.
        """
        with self._lock:
            woken = [
                (subscribed, event, takes_work)
                for subscribed, event, takes_work in self._events
                if topic is None or subscribed in (None, topic)
            ]
        for _, event, _ in woken:
            event.set()
        return _taken_at_once(topic, woken)

    def takes_at_once(self, topic: str) -> bool:
        """Whether a loop of `topic` says it would take that work at once if woken now (what
        `wake(topic)` returns), without waking anything."""
        with self._lock:
            subscribed = list(self._events)
        return _taken_at_once(topic, subscribed)

    def wait(self, timeout: float, event: threading.Event | None = None) -> bool:
        """Block until woken or `timeout` seconds pass; True when woken. Clears the flag."""
        flag = event or self._default
        woken = flag.wait(timeout)
        flag.clear()
        return woken


def _taken_at_once(
    topic: str | None, loops: list[tuple[str | None, threading.Event, Callable[[], bool] | None]]
) -> bool:
    return topic is not None and any(
        takes_work is not None and takes_work() for subscribed, _, takes_work in loops if subscribed == topic
    )


def notify_on_commit(session: Session, waker: Waker, topic: str) -> bool:
    """In the caller's transaction, before it commits: on Postgres, when no loop here takes the work
    of `topic` at once, a NOTIFY that wakes the workers of other processes as the transaction
    commits (never if it rolls back). True when it was sent: the caller then wakes this process's
    loops after the commit with `waker.wake(topic)`; otherwise with `wake_workers`.

    The NOTIFY travels with the transaction: a separate one after the commit was a pool checkout,
    its ping and a transaction of its own (with its own commit to disk) for every trigger.
    """
    if not is_postgres(session) or waker.takes_at_once(topic):
        return False
    postgres_notify_on_commit(session, CHANNEL, _message(topic, woken_here=True))
    return True


def wake_workers(waker: Waker, engine: Engine, topic: str) -> None:
    """Wake this process's loops of `topic`, and the workers of other processes only when no loop
    here takes the work at once.

    Every worker claims all due pages, not only its own process's: with one in every API process
    (`pager serve`), a NOTIFY per trigger group was a transaction of its own, and in each other
    process a claim that found nothing or split the group's pages. A loop here that is busy
    (every sender taken, claims held for a burst of decisions), stopping or stuck still lets the
    others be woken; the others' tick remains the safety net either way.
    """
    if not waker.wake(topic):
        notify_worker(engine, topic, woken_here=True)


def sqlite_wake_path(engine: Engine) -> Path | None:
    """The wake socket's path for a file-backed SQLite database (None otherwise)."""
    if engine.url.get_backend_name() != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    return _wake_path(database, "" if os.path.isabs(database) else os.getcwd())


@lru_cache(maxsize=16)
def _wake_path(database: str, cwd: str) -> Path:
    # Resolved once per file (and working directory): every new alert wakes the worker through it.
    return Path(cwd, database).resolve().with_name(Path(database).name + ".wake")


def notify_worker(engine: Engine, topic: str | None = None, *, woken_here: bool = False) -> None:
    """Wake workers in other processes (best effort: the tick catches anything missed); a topic
    wakes only the loops of that topic there (see Waker). `woken_here`: the caller already woke this
    process's loops through its Waker, so this process's own listener leaves the wake-up alone."""
    message = _message(topic, woken_here=woken_here)
    try:
        if engine.url.get_backend_name() == "postgresql":
            postgres_notify(engine, CHANNEL, message)
            return
        path = sqlite_wake_path(engine)
        if path is None or not path.exists():
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            sender.sendto((message or "w").encode(), str(path))
    except OSError as exc:
        log.debug("wake_skipped reason=%s", exc)
    except Exception as exc:  # a wake-up must never fail the request that asked for it
        log.warning("wake_failed reason=%s", exc)


def _message(topic: str | None, *, woken_here: bool) -> str:
    return (topic or "") + (f"@{PROCESS_TAG}" if woken_here else "")


class WakeListener:
    """A daemon thread that turns cross-process wake-ups into `waker.wake()`."""

    def __init__(self, engine: Engine, waker: Waker) -> None:
        self.engine = engine
        self.waker = waker
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._path: Path | None = None

    def start(self) -> None:
        """Start listening (Postgres LISTEN or the SQLite socket); a failure only logs."""
        if self.engine.url.get_backend_name() == "postgresql":
            target = self._listen_postgres
        else:
            self._path = sqlite_wake_path(self.engine)
            if self._path is None or not self._bind_socket(self._path):
                return
            target = self._listen_socket
        self._thread = threading.Thread(target=target, name="pager-wake", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and remove the socket file this listener created."""
        self._stop.set()
        if self._socket is not None:
            self._socket.close()
            if self._path is not None:
                self._path.unlink(missing_ok=True)

    def _bind_socket(self, path: Path) -> bool:
        if path.exists() and _socket_alive(path):
            log.info("wake_socket_taken path=%s (another worker listens; relying on the tick)", path)
            return False
        path.unlink(missing_ok=True)  # left by a worker that died
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            receiver.bind(str(path))
        except OSError as exc:
            receiver.close()
            log.warning("wake_socket_unavailable path=%s reason=%s", path, exc)
            return False
        receiver.settimeout(1.0)
        self._socket = receiver
        return True

    def _listen_socket(self) -> None:
        assert self._socket is not None
        while not self._stop.is_set():
            try:
                message = self._socket.recv(64)
            except TimeoutError:
                continue
            except OSError:
                return
            self._wake(message.decode(errors="replace"))

    def _listen_postgres(self) -> None:
        import psycopg

        url = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=1.0, stop_after=1):
                            self._wake(notice.payload)
            except psycopg.Error as exc:
                log.warning("wake_listen_failed reason=%s; retrying", exc)
                self._stop.wait(1.0)

    def _wake(self, message: str) -> None:
        payload, _, sender = message.partition("@")
        if sender != PROCESS_TAG:  # this process's own loops were woken by its Waker already
            self.waker.wake(_topic(payload))


def _topic(payload: str) -> str | None:
    # Only the topics the worker knows narrow a wake-up; anything else (older senders) wakes all.
    return payload if payload in WAKE_TOPICS else None


def _socket_alive(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True
