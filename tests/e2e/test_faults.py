"""Faults under real processes: the database going away, the SMS provider going away, a read-only database.

Each test runs `pager serve` (its worker in-process) against the fake Twilio server and an SMTP sink
on loopback, breaks one thing for real, and checks what the product promises (docs/operations.md,
"What happens when things fail"): clear answers instead of hangs or 500s while it is broken, and
afterwards every accepted alert stored and paged exactly once. Every wait is bounded; every process
is stopped when the test ends, whatever happened.
"""

from __future__ import annotations

import subprocess
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import select

from pager.core.page_text import email_subject
from pager.db.session import create_db_engine, session_scope
from pager.db.tables import Alert, OutboxMessage
from pager.services.alerting.alerts import alert_timeline
from tests.e2e.conftest import migrate, wait_until
from tests.e2e.server_process import PRIMARY, SERVICE, Server, free_port, running_server
from tests.e2e.throwaway_postgres import throwaway_postgres

CLIENT_TIMEOUT = 5.0  # a request that takes longer than this counts as a hang


def enqueue(server: Server, dedup_key: str, summary: str) -> httpx.Response:
    return server.trigger(dedup_key, summary, source="faults-test", timeout=CLIENT_TIMEOUT)


def readyz_status(server: Server) -> int | None:
    """/readyz's status code (None: no answer within the client timeout)."""
    try:
        return httpx.get(f"{server.url}/readyz", timeout=CLIENT_TIMEOUT).status_code
    except httpx.TransportError:
        return None


def sms_bodies_to(server: Server, number: str) -> list[str]:
    """Bodies of every SMS the fake Twilio created for `number`, oldest first."""
    return [m["body"] for m in server.twilio.messages() if m["to"] == number]


def paged_once(server: Server, summary: str) -> bool:
    """Ann's SMS naming `summary` exists exactly once at the provider (AssertionError on a duplicate)."""
    count = sum(summary in body for body in sms_bodies_to(server, PRIMARY["sms"]))
    assert count <= 1, f"{summary!r} paged {count} times{server.log()}"
    return count == 1


def alert_id_of(server: Server, dedup_key: str) -> int:
    with session_scope(server.engine, read_only=True) as session:
        alert = session.exec(select(Alert).where(Alert.dedup_key == dedup_key)).one()
        assert alert.id is not None
        return alert.id


def outbox_of(server: Server, alert_id: int) -> list[OutboxMessage]:
    with session_scope(server.engine, read_only=True) as session:
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.alert_id == alert_id)).all()
        return list(rows)


def timeline_of(server: Server, alert_id: int) -> list[tuple[datetime, str, str]]:
    with session_scope(server.engine, read_only=True) as session:
        return [(e.at, e.kind, e.message) for e in alert_timeline(session, alert_id)]


def calls_naming(server: Server, alert_id: int) -> int:
    """How many calls to ann's phone say this alert."""
    return creates_naming(server, "Calls", PRIMARY["voice"], alert_id)


def creates_naming(server: Server, collection: str, to: str, alert_id: int) -> int:
    """How many `collection` creates for `to` carry this alert's page text (an SMS Body, a call's Twiml)."""
    field, tag = (
        ("Body", f"ALERT {alert_id} ") if collection == "Messages" else ("Twiml", f"alert {alert_id} for")
    )
    return sum(tag in form.get(field, "") for form in server.twilio_creates(collection, to))


# --- 1. Postgres stopped and started again under a running server -----------------------------------

# Well under the sending lease (30 s): what went out while the database was away is recorded as soon
# as it is back, not found later by reconciliation.
CAUGHT_UP_AFTER_RESTART = 10.0
TWILIO_ANSWERS_AFTER = 2.0


@pytest.mark.e2e
def test_postgres_restart_under_a_running_server(tmp_path: Path) -> None:
    with throwaway_postgres(free_port()) as postgres:
        migrate(postgres.url, tmp_path)
        with running_server(postgres.url, tmp_path) as server:
            why = lambda: f"\n--- serve log ---\n{server.log()}\n--- postgres log ---\n{postgres.log()}"  # noqa: E731
            accepted: dict[str, str] = {}
            for n in range(3):
                accepted[f"before-{n}"] = f"before the outage #{n}"
                response = enqueue(server, f"before-{n}", accepted[f"before-{n}"])
                assert response.status_code == 202, response.text
            before = [alert_id_of(server, key) for key in accepted]

            def sent(alert_ids: list[int]) -> bool:
                return all(r.status == "sent" for alert_id in alert_ids for r in outbox_of(server, alert_id))

            wait_until("the first alerts' pages", lambda: sent(before), 15, interval=0.1)
            # The last alert's SMS and call reach Twilio, but Twilio answers only once the database
            # is gone: the worker knows they went out and cannot write it down yet.
            server.twilio.hang_next_create_to(PRIMARY["sms"], delay=TWILIO_ANSWERS_AFTER)
            server.twilio.hang_next_create_to(PRIMARY["voice"], delay=TWILIO_ANSWERS_AFTER)
            accepted["in-flight"] = "in flight when the database stops"
            assert enqueue(server, "in-flight", accepted["in-flight"]).status_code == 202
            wait_until("its SMS at Twilio", lambda: paged_once(server, accepted["in-flight"]), 5)
            in_flight = alert_id_of(server, "in-flight")
            wait_until("its call at Twilio", lambda: calls_naming(server, in_flight) == 1, 5)
            answered_at = time.monotonic() + TWILIO_ANSWERS_AFTER

            postgres.stop("fast")
            wait_until("/readyz to say 503", lambda: readyz_status(server) == 503, 10, interval=0.2)
            assert httpx.get(f"{server.url}/healthz", timeout=CLIENT_TIMEOUT).status_code == 200

            started = time.monotonic()
            refused = enqueue(server, "during", "sent while the database is down")
            assert time.monotonic() - started < CLIENT_TIMEOUT
            assert refused.status_code == 503, f"{refused.status_code} {refused.text}{why()}"
            assert refused.headers.get("Retry-After", "").isdigit(), refused.headers
            body = refused.json()
            assert body["status"] == "unavailable" and body["errors"], body  # PagerDuty's error shape

            rest = httpx.get(
                f"{server.url}/api/v1/alerts",
                headers={"Authorization": f"Bearer {server.token}"},
                timeout=CLIENT_TIMEOUT,
            )
            assert rest.status_code == 503, f"{rest.status_code} {rest.text}"
            assert rest.json()["error"]["code"] == "database_unavailable", rest.text
            assert rest.headers.get("Retry-After", "").isdigit(), rest.headers
            wait_until(
                "Twilio's late answers (to a worker without its database)",
                lambda: time.monotonic() >= answered_at + 0.5,
                TWILIO_ANSWERS_AFTER + 1,
            )
            # The worker says once that its database is away (not a traceback a second).
            assert "database_unavailable loop=delivery" in server.log(), why()

            postgres.start()
            restarted_at = time.monotonic()
            wait_until("/readyz to say 200", lambda: readyz_status(server) == 200, 15, interval=0.2)
            accepted["after"] = "after the restart"
            response = enqueue(server, "after", accepted["after"])
            assert response.status_code == 202, f"{response.text}{why()}"
            ids = {key: alert_id_of(server, key) for key in accepted}

            try:
                wait_until(
                    "every page sent and recorded",
                    lambda: sent(list(ids.values())),
                    CAUGHT_UP_AFTER_RESTART,
                    interval=0.2,
                )
            except AssertionError as error:
                rows = [(r.idempotency_key, r.status) for k in ids for r in outbox_of(server, ids[k])]
                raise AssertionError(f"{error}: {rows}{why()}") from None
            assert time.monotonic() - restarted_at <= CAUGHT_UP_AFTER_RESTART

            # Every accepted alert is stored, and each page went out exactly once.
            with session_scope(server.engine, read_only=True) as session:
                stored = {a.dedup_key: a.summary for a in session.exec(select(Alert)).all()}
            assert stored == accepted, why()
            tracebacks = [line for line in server.log().splitlines() if " exc=" in line]
            assert not tracebacks, why()  # an outage is a line per loop, not a traceback a second
            for key, alert_id in ids.items():
                assert paged_once(server, accepted[key]), key
                assert calls_naming(server, alert_id) == 1, f"{key}: {calls_naming(server, alert_id)} calls"
                subject = email_subject(alert_id, SERVICE, accepted[key])
                emails = [d for d in server.smtp.deliveries if d.message["Subject"] == subject]
                assert len(emails) == 1, f"{key}: {len(emails)} emails"


# --- 2. The SMS/voice provider unreachable for a minute ---------------------------------------------

OUTAGE_SECONDS = 60.0
# The retry waits docs/delivery.md promises for a transient failure: 1 s, 2 s, 4 s ... capped at 30 s.
RETRY_WAITS = [1, 2, 4, 8, 16, 30, 30]
# After the provider is back, a page waits at most the longest retry wait, plus the worker's tick and
# a voice call's turn (one call per number in flight; the next is tried 5 s later).
AFTER_RECOVERY = 30.0 + 2 * 5.0 + 3.0


def connection_refused(url: str) -> bool:
    try:
        httpx.get(f"{url}/_fake/requests", timeout=1)
    except httpx.ConnectError:
        return True
    except httpx.TransportError:
        return False
    return False


@pytest.mark.e2e
@pytest.mark.database
def test_provider_down_for_a_minute_pages_retry_with_backoff_then_go_out_once(
    e2e_database_url: str, tmp_path: Path
) -> None:
    with running_server(e2e_database_url, tmp_path) as server:
        assert enqueue(server, "before", "before the outage").status_code == 202
        wait_until("the first page", lambda: paged_once(server, "before the outage"), 10)

        server.twilio.go_down(OUTAGE_SECONDS)
        down_at = time.monotonic()
        wait_until("the provider to refuse connections", lambda: connection_refused(server.twilio.url), 5)
        during = {"early-1": "at the start of the outage", "early-2": "right after it"}
        for key, summary in during.items():
            assert enqueue(server, key, summary).status_code == 202
        # Halfway: its retries (+1, +3, +7, +15, +31 s) end on the same instant as the first ones'.
        wait_until("halfway", lambda: time.monotonic() - down_at >= OUTAGE_SECONDS / 2, OUTAGE_SECONDS)
        during["middle"] = "halfway through the outage"
        assert enqueue(server, "middle", "halfway through the outage").status_code == 202
        ids = {key: alert_id_of(server, key) for key in ["before", *during]}

        # Email does not depend on the SMS provider: it goes out at once, outage or not.
        def emailed() -> bool:
            rows = [r for key in during for r in outbox_of(server, ids[key]) if r.method == "email"]
            return len(rows) == len(during) and all(r.status == "sent" for r in rows)

        wait_until("the emails", emailed, 10, interval=0.2)

        wait_until("the outage to end", lambda: not connection_refused(server.twilio.url), OUTAGE_SECONDS + 5)
        back_at = time.monotonic()

        def all_sent() -> bool:
            return all(r.status == "sent" for key in ids for r in outbox_of(server, ids[key]))

        try:
            wait_until("every page sent", all_sent, AFTER_RECOVERY, interval=0.25)
        except AssertionError as error:
            rows = [(r.idempotency_key, r.status, r.attempts) for k in ids for r in outbox_of(server, ids[k])]
            raise AssertionError(f"{error}: {rows}\n{server.log()}") from None
        caught_up = time.monotonic() - back_at

        for key, alert_id in ids.items():
            timeline = timeline_of(server, alert_id)
            why = "\n".join(f"{at.isoformat()} {kind}: {message}" for at, kind, message in timeline)
            for collection, number in (("Messages", PRIMARY["sms"]), ("Calls", PRIMARY["voice"])):
                count = creates_naming(server, collection, number, alert_id)
                assert count == 1, f"{key}: {count} {collection} creates\n{why}"
            # Connection refused is transient: retried, never written off, nothing brought forward.
            assert not [m for _, kind, m in timeline if kind == "page_failed"], why
            if key == "before":
                continue
            for method in ("sms", "voice"):
                retries = [
                    (at, message)
                    for at, kind, message in timeline
                    if kind == "page_retry" and message.startswith(f"{method} to ann")
                ]
                waits = [int(message.rsplit("retrying in ", 1)[1].rstrip("s")) for _, message in retries]
                assert waits == RETRY_WAITS[: len(waits)] and len(waits) >= 5, (
                    f"{key} {method}: {waits}\n{why}"
                )
                assert all("connection refused" in message for _, message in retries), why
                for (earlier, _), (later, _), wait in zip(retries, retries[1:], waits, strict=False):
                    assert (later - earlier).total_seconds() >= wait - 0.1, (
                        f"{key} {method} retried early\n{why}"
                    )
        assert caught_up <= AFTER_RECOVERY, caught_up


# --- 3. The SQLite database made read-only under a running server -----------------------------------


def set_immutable(paths: list[Path], on: bool) -> None:
    """`chattr +i` / `-i`: nobody may write the file, root included, through descriptors already open too.

    Plain permissions would not do: the tests run as root, which ignores them, and a server keeps the
    database open, and descriptors opened for writing stay writable whatever the mode becomes. The
    immutable flag is checked on every write (Linux >= 5.3 on ext4), which is what a server meets when
    its disk goes read-only beneath it.
    """
    done = subprocess.run(
        ["chattr", "+i" if on else "-i", *map(str, paths)], capture_output=True, text=True, timeout=10
    )
    assert done.returncode == 0, f"chattr failed (needed for this fault): {done.stderr}"


def generic_alert(server: Server, dedup_key: str, summary: str) -> httpx.Response:
    """A generic-JSON alert (an ingest route answering in pager's own error shape)."""
    body = {"status": "firing", "summary": summary, "dedup_key": dedup_key, "severity": "critical"}
    return httpx.post(
        f"{server.url}/integrations/generic/{server.integration_key}", json=body, timeout=CLIENT_TIMEOUT
    )


def row_counts(database_url: str) -> dict[str, int]:
    """Rows in the tables an alert writes to."""
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                table: int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in ("alerts", "outbox", "alert_timeline")
            }
    finally:
        engine.dispose()


@pytest.mark.e2e
def test_sqlite_made_read_only_refuses_alerts_clearly_and_keeps_its_data(tmp_path: Path) -> None:
    database = tmp_path / "pager.db"
    url = f"sqlite:///{database}"
    migrate(url, tmp_path)
    files = [database, database.with_name(database.name + "-wal")]
    with running_server(url, tmp_path) as server:
        assert enqueue(server, "kept", "stored before the fault").status_code == 202
        wait_until("its page", lambda: paged_once(server, "stored before the fault"), 10)

        def settled() -> bool:
            with session_scope(server.engine, read_only=True) as session:
                return all(r.status == "sent" for r in session.exec(select(OutboxMessage)).all())

        wait_until("its pages recorded as sent", settled, 10, interval=0.1)
        before = row_counts(url)
        assert all(path.exists() for path in files), list(tmp_path.iterdir())
        set_immutable(files, True)
        try:
            started = time.monotonic()
            pagerduty = enqueue(server, "refused-1", "posted while read-only")
            generic = generic_alert(server, "refused-2", "posted while read-only too")
            assert time.monotonic() - started < 2 * CLIENT_TIMEOUT
        finally:
            set_immutable(files, False)
        log = server.log()
        assert pagerduty.status_code == 503, f"{pagerduty.status_code} {pagerduty.text}\n{log}"
        assert pagerduty.json()["status"] == "unavailable", pagerduty.text
        assert "cannot write to its disk" in pagerduty.json()["message"], pagerduty.text
        assert generic.status_code == 503, f"{generic.status_code} {generic.text}\n{log}"
        assert generic.json()["error"]["code"] == "database_unavailable", generic.text
        for response in (pagerduty, generic):
            assert response.headers["Retry-After"].isdigit()
            assert "Traceback" not in response.text and "INSERT" not in response.text, response.text
        # The log names the failure and the request it cost, on one line.
        assert any(
            "database_unavailable" in line and "/v2/enqueue" in line and "disk I/O error" in line
            for line in log.splitlines()
        ), log
        assert row_counts(url) == before, "a refused alert left rows behind"

        # Writable again: the same server takes alerts again, without a restart.
        assert enqueue(server, "after", "posted once writable again").status_code == 202, server.log()
        wait_until("its page", lambda: paged_once(server, "posted once writable again"), 10)

    with running_server(url, tmp_path, add_users=False) as restarted:
        with session_scope(restarted.engine, read_only=True) as session:
            stored = {a.dedup_key: a.summary for a in session.exec(select(Alert)).all()}
        assert stored == {"kept": "stored before the fault", "after": "posted once writable again"}
        assert enqueue(restarted, "restarted", "after the restart").status_code == 202
        wait_until("its page", lambda: paged_once(restarted, "after the restart"), 10)
