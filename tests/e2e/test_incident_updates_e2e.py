"""The overdue status-update ladder end to end: `pager serve --no-worker` for the API, a real
`pager worker` process, the fake Twilio server and an SMTP sink (docs/incidents.md, "Status updates").

incidents.yaml gives SEV1 `update_every: 3s`. A SEV1 with customer impact is declared through
`POST /api/v1/incidents` (commander cat) and ann made comms lead; with no update, ann's phone gets
the overdue page within 1 s of the due instant, and exactly once although the worker is killed
(-9) right after and restarted. An update posted through the API resets the cadence (no page at
the old due instant) and, once overdue, stops the ladder: its pending pages are cancelled and the
commander's stage is never queued.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from pager.db.incident_tables import Incident
from pager.db.incident_timeline import incident_events_of
from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from pager.services.people.tokens import create_api_token
from tests.e2e.conftest import (
    ANN,
    CAT,
    SECRET_KEY,
    PagingSetup,
    clean_environment,
    pager_command,
    stop_process,
    wait_until,
)
from tests.e2e.server_process import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.database]

INCIDENTS = """\
severities:
  SEV1: {update_every: 3s, require: [commander]}
"""
EVERY = timedelta(seconds=3)
ON_TIME = 1.0  # the page reaches the provider at most this long after the due instant
EARLY_TOLERANCE = 0.05


class Api:
    """`pager serve --no-worker` on the test's database and config, with a responder token."""

    def __init__(self, paging: PagingSetup) -> None:
        self.paging = paging
        with session_scope(paging.runtime.engine) as session:
            self.token = create_api_token(session, role="responder", name="e2e", now=datetime.now(UTC))[1]
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = clean_environment(
            PAGER_DATABASE_URL=paging.database_url,
            PAGER_CONFIG_DIR=str(paging.config_dir),
            PAGER_PUBLIC_URL=self.url,
            PAGER_SECRET_KEY=SECRET_KEY,
        )
        self.log_path = paging.tmp_path / "pager-serve.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                pager_command("serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=paging.tmp_path,
            )
        wait_until("pager serve to be ready", self._ready, 30)

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"pager serve exited:\n{self.log_path.read_text()}")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        answer = httpx.post(f"{self.url}/api/v1{path}", json=body, headers=headers, timeout=10)
        assert answer.status_code in (200, 201), answer.text
        document: dict[str, Any] = answer.json()
        return document


@pytest.fixture
def api(paging: PagingSetup) -> Iterator[Api]:
    (paging.config_dir / "incidents.yaml").write_text(INCIDENTS, encoding="utf-8")
    paging.runtime.reload_config()
    server = Api(paging)
    try:
        yield server
    finally:
        stop_process(server.process)


def declare(api: Api) -> tuple[int, datetime]:
    """A SEV1 with customer impact, commander cat, comms lead ann; (id, the due instant stored)."""
    incident = api.post(
        "/incidents",
        {"title": "Checkout down", "severity": "SEV1", "customer_impact": True, "commander": "cat"},
    )
    api.post(f"/incidents/{incident['id']}/roles", {"role": "comms_lead", "user": "ann"})
    return incident["id"], due_of(api.paging, incident["id"])


def due_of(paging: PagingSetup, incident_id: int) -> datetime:
    with session_scope(paging.runtime.engine, read_only=True) as session:
        row = session.get(Incident, incident_id)
        assert row is not None and row.next_update_due_at is not None
        return row.next_update_due_at


def overdue_sms(paging: PagingSetup, to: str) -> list[dict[str, Any]]:
    """The overdue-update texts the fake Twilio server received for `to`."""
    return [
        r
        for r in paging.twilio.requests()
        if r["method"] == "POST"
        and r["path"].endswith("/Messages.json")
        and r["form"].get("To") == to
        and "status update overdue" in r["form"].get("Body", "")
    ]


def ladder_rows(paging: PagingSetup, incident_id: int) -> list[OutboxMessage]:
    with session_scope(paging.runtime.engine, read_only=True) as session:
        query = select(OutboxMessage).where(
            col(OutboxMessage.idempotency_key).startswith(f"incident-update:{incident_id}:")
        )
        rows = list(session.exec(query))
        for row in rows:
            session.expunge(row)
        return rows


def evidence(paging: PagingSetup, incident_id: int, due: datetime) -> str:
    with session_scope(paging.runtime.engine, read_only=True) as session:
        lines = [
            f"{e.at.isoformat()} {e.kind}: {e.message}" for e in incident_events_of(session, incident_id)
        ]
    texts = [
        f"{(r['time'] - due).total_seconds():+.3f}s {r['form'].get('To')}"
        for r in overdue_sms(paging, ANN["sms"])
    ]
    keys = [f"{r.idempotency_key} {r.status}" for r in ladder_rows(paging, incident_id)]
    return f"\ndue {due.isoformat()}\ntimeline:\n" + "\n".join(lines + texts + keys) + f"\n{paging.logs()}"


def test_the_comms_lead_is_paged_on_time_and_once_across_a_kill_9(paging: PagingSetup, api: Api) -> None:
    first = paging.start_worker()
    paging.wait_ready(first)
    incident_id, due = declare(api)

    [page] = wait_until(
        "ann's overdue text", lambda: overdue_sms(paging, ANN["sms"]) or None, 3 + ON_TIME + 3
    )
    why = evidence(paging, incident_id, due)
    late = (page["time"] - due).total_seconds()
    assert -EARLY_TOLERANCE <= late <= ON_TIME, f"ann paged {late:+.3f}s after the due instant{why}"
    assert f"Incident {incident_id} (SEV1) Checkout down: status update overdue" in page["form"]["Body"]
    first.kill9()  # right after: the pass that paged is committed, the next one never ran

    second = paging.start_worker()
    paging.wait_ready(second)
    restarted_at = datetime.now(UTC)
    wait_until(
        "two seconds of restarted passes", lambda: datetime.now(UTC) >= restarted_at + timedelta(seconds=2), 3
    )
    why = evidence(paging, incident_id, due)
    assert len(overdue_sms(paging, ANN["sms"])) == 1, f"ann's overdue text was sent twice{why}"
    assert overdue_sms(paging, CAT["sms"]) == [], why  # the commander's turn is 5 minutes after due
    stages = sorted({row.idempotency_key.split(":")[3] for row in ladder_rows(paging, incident_id)})
    assert stages == ["comms_lead"], why
    with session_scope(paging.runtime.engine, read_only=True) as session:
        paged = [e.message for e in incident_events_of(session, incident_id) if e.kind == "update_overdue"]
    assert paged == ["comms lead ann paged: update overdue"], why


def test_an_update_through_the_api_resets_the_cadence_and_stops_the_ladder(
    paging: PagingSetup, api: Api
) -> None:
    paging.wait_ready(paging.start_worker())
    incident_id, due = declare(api)

    # Before it falls due: the update moves the due instant, so nobody is paged at the old one.
    wait_until("1.5 s before due", lambda: datetime.now(UTC) >= due - timedelta(seconds=1.5), 3)
    api.post(f"/incidents/{incident_id}/updates", {"text": "Investigating the deploy", "public": True})
    new_due = due_of(paging, incident_id)
    assert new_due > due
    wait_until("the old due instant + 1 s", lambda: datetime.now(UTC) >= due + timedelta(seconds=ON_TIME), 5)
    assert overdue_sms(paging, ANN["sms"]) == [], evidence(paging, incident_id, due)

    # Overdue at the new instant: ann paged; the update posted then stops the ladder.
    [page] = wait_until(
        "ann's overdue text", lambda: overdue_sms(paging, ANN["sms"]) or None, 3 + ON_TIME + 3
    )
    why = evidence(paging, incident_id, new_due)
    assert -EARLY_TOLERANCE <= (page["time"] - new_due).total_seconds() <= ON_TIME, why
    api.post(f"/incidents/{incident_id}/updates", {"text": "Rolled back", "status": "resolved"})
    rows = ladder_rows(paging, incident_id)
    why = evidence(paging, incident_id, new_due)
    assert {row.idempotency_key.split(":")[3] for row in rows} == {"comms_lead"}, why
    assert "pending" not in {row.status for row in rows}, why  # ann's call a minute later: cancelled
    assert "cancelled" in {row.status for row in rows}, why
    assert due_of_or_none(paging, incident_id) is None
    with session_scope(paging.runtime.engine, read_only=True) as session:
        kinds = [e.kind for e in incident_events_of(session, incident_id)]
    assert "update_ladder_stopped" in kinds, why


def due_of_or_none(paging: PagingSetup, incident_id: int) -> datetime | None:
    with session_scope(paging.runtime.engine, read_only=True) as session:
        row = session.get(Incident, incident_id)
        assert row is not None
        return row.next_update_due_at
