"""The delivery loop's probe (Postgres): is a page due, asked on a connection kept for it, in autocommit,
before a claim opens a transaction (docs/delivery.md, "When the delivery loop wakes")."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from pager.db.backlog import PendingPageProbe
from pager.db.session import is_postgres
from pager.services.delivery import claiming
from pager.services.delivery.pump import DeliveryPump
from pager.services.runtime import Runtime
from tests.services import test_delivery as delivery
from tests.services.test_delivery import ALICE_SMS, T0, outbox, posts, trigger
from tests.support import statements_sent

pytestmark = pytest.mark.database

clock, fake, runtime = delivery.clock, delivery.fake, delivery.runtime
VOICE_STEP = T0 + timedelta(minutes=1)  # alice's voice step, a minute after her SMS


@contextmanager
def checkouts(engine: Engine) -> Iterator[list[int]]:
    """How many connections `engine`'s pool hands out inside the block (one per transaction)."""
    counted = [0]

    def count(*_: Any) -> None:
        counted[0] += 1

    event.listen(engine.pool, "checkout", count)
    try:
        yield counted
    finally:
        event.remove(engine.pool, "checkout", count)


def test_a_pass_woken_for_a_page_the_other_worker_took_asks_once_in_no_transaction(runtime: Runtime) -> None:
    """Both workers are woken by every new page and one takes it. The other's pass, on Postgres,
    is one statement on the probe's own connection: no pool checkout, no BEGIN, no COMMIT. On SQLite
    the claim looks first in its transaction, as before. Either way nothing is claimed and the loop
    sleeps until the next page (alice's voice step) is due."""
    trigger(runtime)
    taken, _, _ = claiming.claim(runtime, T0, 10)  # the other worker
    assert len(taken) == 1
    pump = DeliveryPump(runtime, senders=8, on_finished=lambda: None)
    try:
        assert pump.run(T0) == 0 and pump.next_due_read() == (VOICE_STEP,)  # opens the probe
        with checkouts(runtime.engine) as checked_out, statements_sent(runtime.engine) as sent:
            assert pump.run(T0) == 0 and pump.next_due_read() == (VOICE_STEP,)
        # psycopg's BEGIN is not a cursor statement: no checkout says none ran
        if is_postgres(runtime.engine):
            assert checked_out == [0] and len(sent) == 1 and sent[0].upper().startswith("SELECT"), sent
        else:
            assert checked_out == [1] and sent[0] == "BEGIN IMMEDIATE" and len(sent) == 2, sent
    finally:
        pump.shutdown(T0)
    assert outbox(runtime, "sms").status == "sending"  # the other worker's, untouched


def test_the_probe_reads_in_autocommit_and_a_lost_connection_costs_one_read(runtime: Runtime) -> None:
    """Between reads no transaction stays open (vacuum is not held back, no lock kept). A read on a
    connection the server dropped fails; the next one opens another."""
    probe = PendingPageProbe(runtime.engine)
    try:
        assert probe.read() is None
        trigger(runtime)
        assert probe.read() == T0  # committed elsewhere, seen at once: no snapshot kept
        connection = probe._connection
        assert connection is not None and not connection.in_transaction()
        if is_postgres(runtime.engine):
            driver = connection.connection.driver_connection
            assert driver.autocommit is True  # type: ignore[union-attr]
            assert driver.info.transaction_status.name == "IDLE"  # type: ignore[union-attr]
            backend = driver.info.backend_pid  # type: ignore[union-attr]
            with runtime.engine.connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
            with pytest.raises(Exception):  # noqa: B017 - whatever the driver calls a dropped connection
                probe.read()
        else:
            probe.close()  # what a failed read does
        assert probe.read() == T0
    finally:
        probe.close()


def test_a_pass_whose_probe_fails_still_claims_the_due_page(
    runtime: Runtime, fake: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The probe only ever spares a claim: when its read fails, the claim looks for itself, in its own
    transaction (which fails in turn if the database is really away)."""
    trigger(runtime)

    def broken(_probe: PendingPageProbe) -> None:
        from sqlalchemy.exc import OperationalError

        raise OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(PendingPageProbe, "read", broken)
    call_done = threading.Event()
    pump = DeliveryPump(runtime, senders=8, on_finished=call_done.set)
    try:
        assert pump.run(T0) == 1  # the SMS, to a sender
        assert call_done.wait(10)
    finally:
        pump.shutdown(T0)
    assert [m["To"] for m in posts(fake, "Messages")] == [ALICE_SMS]
    assert outbox(runtime, "sms").status == "sent"
    failed = [r.getMessage() for r in caplog.records if "pending_probe_failed" in r.getMessage()]
    assert len(failed) == (1 if is_postgres(runtime.engine) else 0)


def test_a_worker_stopping_while_its_loop_is_stuck_in_a_read_leaves_that_connection_alone(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shutdown closes the probe's connection, but not under a read still running in the delivery
    loop's thread past the grace (the database hangs): closing a driver connection during a call in
    another thread is not safe. The process is ending; its connections end with it."""
    in_read, release = threading.Event(), threading.Event()
    closed_during_read: list[bool] = []

    def hanging_read(_probe: PendingPageProbe) -> None:
        in_read.set()
        release.wait(10)

    def close(_probe: PendingPageProbe) -> None:
        closed_during_read.append(in_read.is_set() and not release.is_set())

    monkeypatch.setattr(PendingPageProbe, "read", hanging_read)
    monkeypatch.setattr(PendingPageProbe, "close", close)
    pump = DeliveryPump(runtime, senders=2, on_finished=lambda: None)
    loop = threading.Thread(target=pump.run, args=(T0,))
    loop.start()
    try:
        if is_postgres(runtime.engine):
            assert in_read.wait(10)
        pump.shutdown(T0, timeout=1)
    finally:
        release.set()
        loop.join(10)
    assert not loop.is_alive()
    assert closed_during_read == []
    pump.shutdown(T0, timeout=1)  # once the read is over, shutdown closes it
    assert closed_during_read == ([False] if is_postgres(runtime.engine) else [])
