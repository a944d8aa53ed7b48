"""Wake-ups: in process by topic, and across processes through the SQLite socket or Postgres NOTIFY."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import DBAPIError

from pager.db.session import is_postgres, postgres_notify, session_scope
from pager.db.tables import Service
from pager.services.operations import wakeup
from pager.services.operations.wakeup import (
    WakeListener,
    Waker,
    notify_on_commit,
    notify_worker,
    wake_workers,
)

WAIT_S = 10.0  # an upper bound for a wake-up to arrive; a passing test never waits this long


def flags(waker: Waker) -> dict[str, threading.Event]:
    return {
        "escalation": waker.subscribe("escalation"),
        "delivery": waker.subscribe("delivery"),
        "any": waker.subscribe(),
    }


def test_a_topic_wakes_its_loops_and_the_untopical_ones_only() -> None:
    waker = Waker()
    subscribed = flags(waker)
    waker.wake("delivery")
    assert {name for name, flag in subscribed.items() if flag.is_set()} == {"delivery", "any"}
    for flag in subscribed.values():
        flag.clear()
    waker.wake()
    assert all(flag.is_set() for flag in subscribed.values())


@pytest.mark.database
@pytest.mark.parametrize("topic", ["delivery", None])
def test_another_process_wakes_the_loops_of_its_topic(engine: Engine, topic: str | None) -> None:
    waker = Waker()
    subscribed = flags(waker)
    listener = WakeListener(engine, waker)
    listener.start()
    try:
        # Postgres: LISTEN is issued by the listener's thread; NOTIFY again until it is heard.
        for _ in range(int(WAIT_S / 0.1)):
            notify_worker(engine, topic)
            if subscribed["any"].wait(0.1):
                break
        assert subscribed["any"].is_set()
        assert subscribed["delivery"].wait(WAIT_S)
        assert subscribed["escalation"].is_set() == (topic is None)
    finally:
        listener.stop()


@pytest.mark.database
def test_a_wake_up_this_process_already_had_is_not_heard_again_by_its_own_listener(engine: Engine) -> None:
    # Postgres hands a NOTIFY to every listener, the sender's too: an API process with its worker
    # inside ran the delivery loop twice per trigger group (its Waker's wake, then the echo).
    waker = Waker()
    subscribed = flags(waker)
    listener = WakeListener(engine, waker)
    listener.start()
    try:
        for _ in range(int(WAIT_S / 0.1)):  # the listener is listening once a plain wake-up arrives
            notify_worker(engine, "delivery")
            if subscribed["delivery"].wait(0.1):
                break
        # Wake-ups arrive in the order they were sent: once a later one is heard, earlier ones were.
        notify_worker(engine, "escalation")
        assert subscribed["escalation"].wait(WAIT_S)
        for flag in subscribed.values():
            flag.clear()
        notify_worker(engine, "delivery", woken_here=True)
        notify_worker(engine, "escalation")
        assert subscribed["escalation"].wait(WAIT_S)
        assert not subscribed["delivery"].is_set()
    finally:
        listener.stop()


def test_a_wake_up_says_whether_a_loop_of_its_topic_takes_the_work_at_once() -> None:
    waker = Waker()
    assert waker.wake("delivery") is False  # nobody subscribed
    ready = {"delivery": False, "escalation": True, "any": True}
    waker.subscribe("delivery", takes_work=lambda: ready["delivery"])
    waker.subscribe("escalation", takes_work=lambda: ready["escalation"])
    waker.subscribe(takes_work=lambda: ready["any"])  # untopical: woken by every topic, answers none
    assert waker.wake("delivery") is False
    ready["delivery"] = True
    assert waker.wake("delivery") is True
    assert waker.wake() is False  # no topic: no loop answers for the work
    ready["escalation"] = False
    assert waker.wake("escalation") is False


def test_other_processes_are_woken_only_when_no_loop_here_takes_the_work(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str | None, bool]] = []

    def notify(_engine: Engine, topic: str | None = None, *, woken_here: bool = False) -> None:
        sent.append((topic, woken_here))

    monkeypatch.setattr(wakeup, "notify_worker", notify)
    waker = Waker()
    takes = {"now": True}
    delivery = waker.subscribe("delivery", takes_work=lambda: takes["now"])
    wake_workers(waker, engine, "delivery")
    assert delivery.is_set() and sent == []
    delivery.clear()
    takes["now"] = False  # busy, stopping or stuck: the others must hear of it
    wake_workers(waker, engine, "delivery")
    assert delivery.is_set() and sent == [("delivery", True)]


@pytest.mark.database
def test_a_wake_up_sent_or_failed_leaves_the_pool_connection_in_transactions(engine: Engine) -> None:
    # On Postgres the NOTIFY goes out in autocommit, on a connection of the pool: one that came back
    # still in autocommit would commit every later statement of whoever checked it out on its own.
    def rolled_back_write_stays_undone() -> bool:
        table = Service.__table__  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        row = {"id": "wake-probe", "name": "Probe", "policy_id": "p", "integration_key": uuid.uuid4().hex}
        with engine.connect() as connection:
            connection.execute(insert(table).values(**row, created_at=now, updated_at=now))
            connection.rollback()
        with engine.connect() as connection:
            return connection.execute(select(table.c.id).where(table.c.id == "wake-probe")).first() is None

    notify_worker(engine, "delivery")
    assert rolled_back_write_stays_undone()
    if is_postgres(engine):
        with pytest.raises(DBAPIError, match="payload string too long"):
            postgres_notify(engine, wakeup.CHANNEL, "x" * 9000)  # the server refuses past 8000 bytes
    assert rolled_back_write_stays_undone()


@pytest.mark.database
def test_a_wake_up_on_commit_is_heard_when_its_transaction_commits_and_never_if_it_rolls_back(
    engine: Engine,
) -> None:
    waker = Waker()
    if engine.dialect.name != "postgresql":  # SQLite: the datagram goes after the commit (wake_workers)
        with session_scope(engine) as session:
            assert notify_on_commit(session, waker, "delivery") is False
        return
    import psycopg

    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as listening:
        listening.execute(f"LISTEN {wakeup.CHANNEL}")

        def heard() -> list[str]:
            return [notice.payload for notice in listening.notifies(timeout=0.2)]

        with pytest.raises(RuntimeError), session_scope(engine) as session:
            assert notify_on_commit(session, waker, "delivery") is True
            raise RuntimeError("the trigger failed")
        assert heard() == []
        with session_scope(engine) as session:
            assert notify_on_commit(session, waker, "delivery") is True
            assert heard() == []  # not before the commit
        assert heard() == [f"delivery@{wakeup.PROCESS_TAG}"]
        waker.subscribe("delivery", takes_work=lambda: True)  # a loop here takes the pages at once
        with session_scope(engine) as session:
            assert notify_on_commit(session, waker, "delivery") is False
        assert heard() == []
