"""Asking for console login links by email (docs/console.md, "Logging in").

Anyone may ask, for any handle, and each link is an email through the outbox, under the same
per-address throttle (20 a minute) as the person's pages. 100 asks for one handle held that
person's email page back for 5 minutes behind the links. Now a handle gets three links per link
lifetime whoever asks, and an address may ask 20 times a minute.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from pager.api.app import create_app
from pager.api.console import login as login_routes
from pager.api.console.login import EMAIL_SENT, LINKS_PER_HANDLE
from pager.api.deps import get_now
from pager.api.failure_limits import MAX_FAILURES
from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from pager.services.alerting import catalog
from pager.services.alerting.alerts import trigger_alert
from pager.services.people.users import add_user
from pager.services.runtime import Runtime
from pager.worker import deliver
from tests import support

pytestmark = pytest.mark.database

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
POLICY = """\
    levels:
      - notify: [user:ann]
        escalate_after: 5m
    services:
      - {id: api, name: API}
    """


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    built = support.console_runtime(engine, support.write_config(tmp_path / "config", {}, {"main": POLICY}))
    with session_scope(engine) as session:
        add_user(session, handle="ann", name="Ann", now=NOW, email="ann@example.com", verified=True)
        add_user(session, handle="bob", name="Bob", now=NOW, email="bob@example.com", verified=True)
        catalog.sync_services(session, built.config, NOW)
    return built


@pytest.fixture
def console(runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = lambda: NOW
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def ask(console: TestClient, handle: str) -> tuple[int, str]:
    """Ask for a login link for `handle`: the status and the page's message."""
    found = re.search(r'name="csrf" value="([^"]+)"', console.get("/login").text)
    assert found is not None
    answer = console.post("/login/email", data={"csrf": found.group(1), "handle": handle})
    message = re.search(r'<div class="message \w+" role="\w+">([^<]*)</div>', answer.text)
    assert message is not None, answer.text
    return answer.status_code, message.group(1)


def login_emails(runtime: Runtime, address: str) -> int:
    with session_scope(runtime.engine, read_only=True) as session:
        query = select(OutboxMessage).where(
            col(OutboxMessage.idempotency_key).startswith("console-login:"), OutboxMessage.address == address
        )
        return len(list(session.exec(query)))


def test_asking_for_many_links_does_not_hold_back_the_persons_pages(
    console: TestClient, runtime: Runtime, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_sent = support.Refusals(monkeypatch, login_routes, "_NOT_SENT", "too_many_links")
    caplog.set_level(logging.WARNING, logger="pager.api")
    answers = {ask(console, "ann") for _ in range(MAX_FAILURES)}
    assert answers == {(200, EMAIL_SENT)}  # every ask answered alike, sent or not
    assert login_emails(runtime, "ann@example.com") == LINKS_PER_HANDLE
    assert not_sent.counted() == MAX_FAILURES - LINKS_PER_HANDLE
    assert not_sent.lines(caplog.records) == [
        "console_login_links_not_sent too_many_links=1 last_client=testclient per_handle=3"
    ]

    outcome = trigger_alert(
        runtime, service_id="api", summary="Checkout down", now=NOW + timedelta(seconds=1)
    )
    assert outcome is not None
    deliver(runtime, NOW + timedelta(seconds=2))
    with session_scope(runtime.engine, read_only=True) as session:
        (page,) = session.exec(select(OutboxMessage).where(OutboxMessage.alert_id == outcome.alert_id))
    assert (page.method, page.address, page.status) == ("email", "ann@example.com", "sent")


def test_each_handle_has_its_own_links_and_an_unknown_one_is_answered_alike(
    console: TestClient, runtime: Runtime
) -> None:
    for handle in ("ann", "bob", "nobody", "ann", "bob", "nobody"):
        assert ask(console, handle) == (200, EMAIL_SENT)
    assert login_emails(runtime, "ann@example.com") == 2
    assert login_emails(runtime, "bob@example.com") == 2


def test_an_address_asking_too_often_is_told_to_wait_and_nothing_is_sent(
    console: TestClient, runtime: Runtime
) -> None:
    handles = ["ann", "bob"] + [f"guess{n}" for n in range(MAX_FAILURES - 2)]
    assert {ask(console, handle) for handle in handles} == {(200, EMAIL_SENT)}
    with session_scope(runtime.engine, read_only=True) as session:
        before = len(list(session.exec(select(OutboxMessage))))
    status, message = ask(console, "ann")
    assert status == 429
    assert message.startswith("Too many login links asked for from your address; try again in ")
    with session_scope(runtime.engine, read_only=True) as session:
        assert len(list(session.exec(select(OutboxMessage)))) == before
