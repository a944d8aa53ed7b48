"""The escalation engine end to end: a real `pager worker` process, the fake Twilio server, an SMTP server.

Policy `fast`: level 1 pages the `team` schedule's primary (ann), level 2 pages cat, each level
`escalate_after: 3s`, no repeat. Everything is measured from what the providers received: the fake
Twilio server's request times and the SMTP sink's receipt times against the trigger instant.

- trigger -> ann's SMS and email within 1 s -> nobody acks -> cat's SMS and email 3 s after the trigger;
- the same with the worker killed (-9) between the levels and restarted: level 2 at most 2 s after
  the later of its due time and the new worker's start, nothing lost, nothing sent twice;
- the worker killed while Twilio hangs on a message it did create: after the restart the page is
  reconciled with Twilio's message list, not sent again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from pager.core.page_text import email_subject, sms_text
from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from pager.services.alerting.alerts import alert_timeline, trigger_alert
from tests.e2e.conftest import (
    ANN,
    CAT,
    ESCALATE_AFTER,
    SENDING_LEASE_SECONDS,
    SERVICE,
    PagingSetup,
    WorkerProcess,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.database]

SUMMARY = "Checkout error rate above 5%"
FIRST_PAGE_WITHIN = 1.0  # trigger -> level-1 page received by the provider
ESCALATION_SLACK = 1.0  # level 2 may arrive this much after trigger + escalate_after
# ... and this much after the later of that and the restarted worker's start. How long a Python
# process takes to start is the machine's, not the engine's (a loaded CI machine took 4.6 s):
# what is tested is that the new worker takes the escalation up at once, nothing lost or doubled.
RESTART_SLACK = 2.0
EARLY_TOLERANCE = 0.05  # clock granularity; a level-2 page must never come before its time


@dataclass(frozen=True)
class Page:
    """One page as a provider received it."""

    method: str  # sms | email
    to: str
    text: str  # SMS body, or email subject
    at: datetime


def received_pages(paging: PagingSetup) -> list[Page]:
    """Every SMS create the fake Twilio server received and every mail the sink accepted, by time."""
    sms = [
        Page("sms", r["form"].get("To", ""), r["form"].get("Body", ""), r["time"])
        for r in paging.twilio.requests()
        if r["method"] == "POST" and r["path"].endswith("/Messages.json")
    ]
    mail = [
        Page("email", ",".join(m.rcpt_tos), str(m.message["Subject"]), m.at) for m in paging.smtp.received
    ]
    return sorted(sms + mail, key=lambda page: page.at)


def expected_pages(alert_id: int) -> dict[str, tuple[str, str, str]]:
    """Name -> (method, to, text) of the four pages the policy sends before it is exhausted."""
    body = sms_text(alert_id, SERVICE, SUMMARY)
    subject = email_subject(alert_id, SERVICE, SUMMARY)
    return {
        "level 1 sms": ("sms", ANN["sms"], body),
        "level 1 email": ("email", ANN["email"], subject),
        "level 2 sms": ("sms", CAT["sms"], body),
        "level 2 email": ("email", CAT["email"], subject),
    }


def timeline_text(paging: PagingSetup, alert_id: int) -> str:
    with session_scope(paging.runtime.engine, read_only=True) as session:
        entries = alert_timeline(session, alert_id)
    return "\n".join(f"{e.at.isoformat()} {e.kind}: {e.message}" for e in entries)


def evidence(paging: PagingSetup, alert_id: int, triggered_at: datetime) -> str:
    """Timeline, pages received (seconds after the trigger) and the worker logs, for failure messages."""
    pages = "\n".join(
        f"+{(p.at - triggered_at).total_seconds():.3f}s {p.method} {p.to} {p.text!r}"
        for p in received_pages(paging)
    )
    return f"\ntimeline:\n{timeline_text(paging, alert_id)}\npages:\n{pages}\n{paging.logs()}"


def trigger(paging: PagingSetup) -> tuple[int, datetime]:
    """Open the alert from the test process (it wakes the worker by NOTIFY / the wake socket)."""
    now = datetime.now(UTC)
    outcome = trigger_alert(paging.runtime, service_id=SERVICE, summary=SUMMARY, now=now)
    assert outcome.created
    return outcome.alert_id, now


def wait_for_exhaustion(paging: PagingSetup, alert_id: int, triggered_at: datetime) -> None:
    """Wait (bounded) until the ladder ran out: both levels' timers fired, nothing more is due soon."""
    timeout = 2 * ESCALATE_AFTER + RESTART_SLACK + 10.0

    def exhausted() -> bool:
        with session_scope(paging.runtime.engine, read_only=True) as session:
            return any(e.kind == "exhausted" for e in alert_timeline(session, alert_id))

    try:
        wait_until("escalation exhausted", exhausted, timeout, interval=0.1)
    except AssertionError as error:
        raise AssertionError(f"{error}{evidence(paging, alert_id, triggered_at)}") from None


def page_times(paging: PagingSetup, alert_id: int, triggered_at: datetime) -> dict[str, datetime]:
    """Each expected page's arrival; fails unless each arrived exactly once and nothing else was sent."""
    expected = expected_pages(alert_id)
    pages = received_pages(paging)
    counts = Counter((p.method, p.to, p.text) for p in pages)
    why = evidence(paging, alert_id, triggered_at)
    for name, key in expected.items():
        assert counts[key] == 1, f"{name} arrived {counts[key]} times, expected exactly once{why}"
    assert len(pages) == len(expected), f"unexpected pages{why}"
    return {
        name: next(p.at for p in pages if (p.method, p.to, p.text) == key) for name, key in expected.items()
    }


def assert_on_time(
    times: dict[str, datetime], triggered_at: datetime, why: str, restarted: WorkerProcess | None = None
) -> None:
    """Level 1 within a second of the trigger; level 2 never early, and late by at most the slack
    after its due time or, when the worker was `restarted`, after the later of that and its start."""
    for name in ("level 1 sms", "level 1 email"):
        delay = (times[name] - triggered_at).total_seconds()
        assert 0 <= delay <= FIRST_PAGE_WITHIN, f"{name} {delay:.3f}s after the trigger{why}"
    due = triggered_at + timedelta(seconds=ESCALATE_AFTER)
    if restarted is None:
        latest, after = due + timedelta(seconds=ESCALATION_SLACK), "trigger+3s"
    else:
        started = restarted.started_at()
        latest = max(due, started) + timedelta(seconds=RESTART_SLACK)
        start_delay = (started - triggered_at).total_seconds()
        after = f"trigger+3s (the restarted worker started at trigger{start_delay:+.3f}s)"
    for name in ("level 2 sms", "level 2 email"):
        late = (times[name] - due).total_seconds()
        earliest = due - timedelta(seconds=EARLY_TOLERANCE)
        assert earliest <= times[name] <= latest, f"{name} {late:+.3f}s vs {after}{why}"


def level_one_received(paging: PagingSetup, alert_id: int) -> bool:
    expected = expected_pages(alert_id)
    got = {(p.method, p.to, p.text) for p in received_pages(paging)}
    return expected["level 1 sms"] in got and expected["level 1 email"] in got


def test_level_one_at_once_then_level_two_after_escalate_after(paging: PagingSetup) -> None:
    paging.wait_ready(paging.start_worker())

    alert_id, triggered_at = trigger(paging)
    wait_for_exhaustion(paging, alert_id, triggered_at)

    times = page_times(paging, alert_id, triggered_at)
    assert_on_time(times, triggered_at, evidence(paging, alert_id, triggered_at))


def test_worker_killed_between_levels_restarts_without_losing_or_doubling(paging: PagingSetup) -> None:
    first = paging.start_worker()
    paging.wait_ready(first)

    alert_id, triggered_at = trigger(paging)
    wait_until("level 1 pages", lambda: level_one_received(paging, alert_id), FIRST_PAGE_WITHIN + 1.0)
    # Kill -9 halfway to the escalation, restart half a second later; level 2 is due at +3 s.
    wait_until("+1.5 s", lambda: datetime.now(UTC) >= triggered_at + timedelta(seconds=1.5), 2.0)
    assert first.process.poll() is None, f"worker ended by itself{paging.logs()}"
    first.kill9()
    wait_until("+2.0 s", lambda: datetime.now(UTC) >= triggered_at + timedelta(seconds=2.0), 1.0)
    second = paging.start_worker()
    wait_for_exhaustion(paging, alert_id, triggered_at)

    times = page_times(paging, alert_id, triggered_at)
    assert_on_time(times, triggered_at, evidence(paging, alert_id, triggered_at), restarted=second)


def outbox_row(paging: PagingSetup, alert_id: int, method: str, address: str) -> OutboxMessage:
    with session_scope(paging.runtime.engine, read_only=True) as session:
        query = select(OutboxMessage).where(
            OutboxMessage.alert_id == alert_id,
            OutboxMessage.method == method,
            OutboxMessage.address == address,
        )
        return session.exec(query).one()


def test_worker_killed_during_a_hanging_send_reconciles_instead_of_resending(paging: PagingSetup) -> None:
    # Twilio creates ann's message but never answers: the worker is stuck in the call when it dies.
    paging.twilio.hang_next_create_to(ANN["sms"])
    first = paging.start_worker()
    paging.wait_ready(first)

    alert_id, triggered_at = trigger(paging)
    body = expected_pages(alert_id)["level 1 sms"][2]

    def ann_sms_on_record() -> list[dict[str, Any]]:
        return [m for m in paging.twilio.messages() if m["to"] == ANN["sms"] and m["body"] == body]

    def only_the_sms_in_flight() -> bool:
        # The email went out beside the SMS; SMTP keeps no record to reconcile with, so the crash
        # comes once its outcome is stored and the hanging SMS is the one call still open.
        return outbox_row(paging, alert_id, "email", ANN["email"]).status == "sent"

    wait_until("Twilio to create ann's SMS", ann_sms_on_record, FIRST_PAGE_WITHIN + 1.0)
    wait_until("ann's email recorded as sent", only_the_sms_in_flight, FIRST_PAGE_WITHIN + 1.0)
    why = evidence(paging, alert_id, triggered_at)
    assert outbox_row(paging, alert_id, "sms", ANN["sms"]).status == "sending", why
    assert first.process.poll() is None, f"worker ended during the hang{why}"
    first.kill9()
    second = paging.start_worker()

    def reconciled() -> bool:
        with session_scope(paging.runtime.engine, read_only=True) as session:
            return any(e.kind == "page_reconciled" for e in alert_timeline(session, alert_id))

    wait_until("ann's SMS reconciled", reconciled, SENDING_LEASE_SECONDS + 8.0, interval=0.1)
    wait_for_exhaustion(paging, alert_id, triggered_at)

    why = evidence(paging, alert_id, triggered_at)
    on_record = ann_sms_on_record()
    assert len(on_record) == 1, f"Twilio has {len(on_record)} messages to ann{why}"
    row = outbox_row(paging, alert_id, "sms", ANN["sms"])
    assert (row.status, row.provider_id) == ("sent", on_record[0]["sid"]), why
    assert f"sms to ann: provider has it ({on_record[0]['sid']})" in timeline_text(paging, alert_id), why
    times = page_times(paging, alert_id, triggered_at)
    assert_on_time(times, triggered_at, why, restarted=second)


def test_a_hanging_send_delays_neither_the_escalation_nor_other_pages(paging: PagingSetup) -> None:
    # Twilio takes ann's SMS and never answers (until the SDK's timeout): the worker must go on paging.
    paging.twilio.hang_next_create_to(ANN["sms"])
    paging.wait_ready(paging.start_worker())

    alert_id, triggered_at = trigger(paging)
    wait_for_exhaustion(paging, alert_id, triggered_at)

    why = evidence(paging, alert_id, triggered_at)
    expected = expected_pages(alert_id)
    received = {(p.method, p.to, p.text): p.at for p in received_pages(paging)}
    assert expected["level 1 email"] in received, why
    due = triggered_at + timedelta(seconds=ESCALATE_AFTER)
    for name in ("level 2 sms", "level 2 email"):
        late = (received[expected[name]] - due).total_seconds()
        assert -EARLY_TOLERANCE <= late <= ESCALATION_SLACK, f"{name} {late:+.3f}s vs trigger+3s{why}"
    body = expected["level 1 sms"][2]
    on_record = [m for m in paging.twilio.messages() if m["to"] == ANN["sms"] and m["body"] == body]
    assert len(on_record) == 1, f"Twilio has {len(on_record)} messages to ann{why}"
