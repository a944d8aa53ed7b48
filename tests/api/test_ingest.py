"""Alert ingest over HTTP against a migrated database: what is stored, what is answered, what is refused.

Payloads are the shared fixtures (tests/fixtures/ingest): Alertmanager and Grafana webhooks, bodies
captured from a real Alertmanager 0.25, and PagerDuty Events v2 trigger / acknowledge / resolve.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, update
from sqlmodel import select

from pager.api.app import create_app
from pager.api.deps import get_now
from pager.api.direct_route import DirectRoute
from pager.db.session import create_db_engine, session_scope
from pager.db.tables import Alert, OutboxMessage, Service, TimelineEntry
from pager.services.alerting import catalog
from pager.services.ingest import keys as ingest_keys
from pager.services.ingest.keys import Throttle
from pager.services.people import users
from pager.services.runtime import Runtime
from tests import support

pytestmark = pytest.mark.database

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"
T0 = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
API_KEY = "R0UT1NGKEY0000000000000000000001"  # the key in the PagerDuty and shared Alertmanager fixtures
CAPTURED_KEY = "R0UT1NGKEYacceptance0123456789ab"  # the key the captured Alertmanager 0.25 used

SCHEDULE = """\
    time_zone: UTC
    layers:
      - name: weekly
        members: [alice]
        start: 2026-01-05T09:00
        shift: 1w
    """
POLICY = """\
    levels:
      - notify: [schedule:team]
        escalate_after: 5m
    services:
      - {id: api, name: API}
      - {id: checkout, name: Checkout}
    """


def fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return document


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    config_dir = support.write_config(tmp_path / "config", {"team": SCHEDULE}, {"main": POLICY})
    built = support.console_runtime(engine, config_dir)
    with session_scope(engine) as session:
        users.add_user(
            session, handle="alice", name="Alice", now=T0, sms="+15550000001", email="a@example.com"
        )
        catalog.sync_services(session, built.config, T0)
        for service_id, key in (("api", API_KEY), ("checkout", CAPTURED_KEY)):
            session.execute(update(Service).where(Service.id == service_id).values(integration_key=key))  # type: ignore[arg-type]
    return built


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = lambda: T0
    with TestClient(app) as test_client:
        yield test_client


def counts(runtime: Runtime) -> tuple[int, int, int]:
    """(alerts, timeline entries, outbox rows) stored."""
    with session_scope(runtime.engine, read_only=True) as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(table)).one()
            for table in (Alert, TimelineEntry, OutboxMessage)
        )


def alerts_of(runtime: Runtime) -> list[Alert]:
    with session_scope(runtime.engine, read_only=True) as session:
        return list(session.exec(select(Alert).order_by(Alert.id)))  # type: ignore[arg-type]


def timeline_kinds(runtime: Runtime, alert_id: int) -> list[str]:
    with session_scope(runtime.engine, read_only=True) as session:
        query = select(TimelineEntry).where(TimelineEntry.alert_id == alert_id).order_by(TimelineEntry.id)  # type: ignore[arg-type]
        return [entry.kind for entry in session.exec(query)]


def outbox_of(runtime: Runtime, alert_id: int) -> list[OutboxMessage]:
    with session_scope(runtime.engine, read_only=True) as session:
        return list(session.exec(select(OutboxMessage).where(OutboxMessage.alert_id == alert_id)))


# --- PagerDuty Events API v2 ------------------------------------------------------------------------


def test_pagerduty_trigger_commits_the_alert_and_its_pages_before_answering(
    client: TestClient, runtime: Runtime
) -> None:
    response = client.post("/v2/enqueue", json=fixture("pagerduty_v2_trigger.json"))
    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "disk-full/db-1",
    }
    [alert] = alerts_of(runtime)
    assert (alert.service_id, alert.dedup_key, alert.status) == ("api", "disk-full/db-1", "triggered")
    assert (alert.summary, alert.severity, alert.source) == (
        "Disk /var/lib/postgresql 97% full on db-1",
        "critical",
        "db-1.example.com",
    )
    assert alert.details["custom_details"] == {"free_bytes": 1073741824, "mount": "/var/lib/postgresql"}
    assert alert.details["links"] == [
        {"href": "https://grafana.example.com/d/disk", "text": "Disk dashboard"}
    ]
    assert (alert.details["component"], alert.details["class"]) == ("postgres", "disk")
    assert alert.id is not None
    assert timeline_kinds(runtime, alert.id)[0] == "triggered"
    # The worker never ran: the pages are already stored for it, so a crash now loses nothing.
    assert {row.method for row in outbox_of(runtime, alert.id)} >= {"sms", "email"}


@pytest.mark.parametrize("clock", ["sync", "async"])
def test_every_ingest_route_stamps_alerts_with_the_apps_clock(runtime: Runtime, clock: str) -> None:
    # The ingest routes read the clock without FastAPI's dependencies (pager.api.deps.request_now):
    # a test's override of get_now must still reach them, plain or async, as it reaches any route.
    later = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)

    async def async_clock() -> datetime:
        return later

    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = (lambda: later) if clock == "sync" else async_clock
    with TestClient(app) as client:
        assert client.post("/v2/enqueue", json=fixture("pagerduty_v2_trigger.json")).status_code == 202
        firing = fixture("alertmanager_firing.json")
        assert client.post(f"/integrations/alertmanager/{API_KEY}", json=firing).status_code == 202
    stamped = alerts_of(runtime)
    assert len(stamped) == 2
    assert [(a.created_at, a.last_event_at) for a in stamped] == [(later, later)] * 2


def test_pagerduty_repeat_trigger_dedups_then_acknowledge_and_resolve(
    client: TestClient, runtime: Runtime
) -> None:
    for _ in range(3):
        assert client.post("/v2/enqueue", json=fixture("pagerduty_v2_trigger.json")).status_code == 202
    [alert] = alerts_of(runtime)
    assert alert.event_count == 3
    assert alert.id is not None
    assert timeline_kinds(runtime, alert.id).count("trigger_repeated") == 2

    acked = client.post("/v2/enqueue", json=fixture("pagerduty_v2_acknowledge.json"))
    assert acked.status_code == 202 and acked.json()["dedup_key"] == "disk-full/db-1"
    [alert] = alerts_of(runtime)
    assert (alert.status, alert.acknowledged_at) == ("acknowledged", T0)

    resolved = client.post("/v2/enqueue", json=fixture("pagerduty_v2_resolve.json"))
    assert resolved.status_code == 202
    [alert] = alerts_of(runtime)
    assert (alert.status, alert.resolved_at) == ("resolved", T0)
    assert alert.id is not None
    kinds = timeline_kinds(runtime, alert.id)
    assert kinds[:4] == ["triggered", "level_paged", "trigger_repeated", "trigger_repeated"]
    assert kinds.index("acknowledged") < kinds.index("resolved")

    # After the resolve, the same dedup key opens a new alert.
    assert client.post("/v2/enqueue", json=fixture("pagerduty_v2_trigger.json")).status_code == 202
    assert [(a.dedup_key, a.status) for a in alerts_of(runtime)] == [
        ("disk-full/db-1", "resolved"),
        ("disk-full/db-1", "triggered"),
    ]


def test_pagerduty_resolve_of_an_unknown_dedup_key_is_accepted_and_changes_nothing(
    client: TestClient, runtime: Runtime
) -> None:
    response = client.post("/v2/enqueue", json=fixture("pagerduty_v2_resolve.json"))
    assert response.status_code == 202
    assert response.json()["dedup_key"] == "disk-full/db-1"
    assert counts(runtime) == (0, 0, 0)


def test_pagerduty_trigger_without_dedup_key_gets_one_back(client: TestClient, runtime: Runtime) -> None:
    event = fixture("pagerduty_v2_trigger.json")
    del event["dedup_key"]
    first = client.post("/v2/enqueue", json=event).json()["dedup_key"]
    second = client.post("/v2/enqueue", json=event).json()["dedup_key"]
    assert first != second
    assert sorted(a.dedup_key for a in alerts_of(runtime)) == sorted([first, second])


def _pd(**changes: Any) -> dict[str, Any]:
    event = fixture("pagerduty_v2_trigger.json")
    for path, value in changes.items():
        target = event
        *parents, last = path.split("__")
        for part in parents:
            target = target[part]
        if value is _DROP:
            del target[last]
        else:
            target[last] = value
    return event


_DROP = object()

INVALID_EVENTS = {
    "routing key missing": (_pd(routing_key=_DROP), "routing_key"),
    "routing key too short": (_pd(routing_key="abc"), "routing_key"),
    "routing key unknown": (_pd(routing_key="f" * 32), "routing_key"),
    "event action unknown": (_pd(event_action="create"), "event_action"),
    "severity unknown": (_pd(payload__severity="fatal"), "payload.severity"),
    "summary missing": (_pd(payload__summary=_DROP), "payload.summary"),
    "summary too long": (_pd(payload__summary="x" * 1025), "payload.summary"),
    "summary blank": (_pd(payload__summary="   "), "payload.summary"),
    "summary not a string": (_pd(payload__summary=42), "payload.summary"),
    "source missing": (_pd(payload__source=_DROP), "payload.source"),
    "dedup key too long": (_pd(dedup_key="k" * 256), "dedup_key"),
    "payload missing on trigger": (_pd(payload=_DROP), "payload"),
    "link without href": (_pd(links=[{"text": "x"}]), "links.0.href"),
    "custom details not an object": (_pd(payload__custom_details="text"), "payload.custom_details"),
    "ack without dedup key": ({"routing_key": API_KEY, "event_action": "acknowledge"}, "dedup_key"),
    "resolve with blank dedup key": (
        {"routing_key": API_KEY, "event_action": "resolve", "dedup_key": " "},
        "dedup_key",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_EVENTS))
def test_pagerduty_invalid_event_is_400_naming_the_field_and_stores_nothing(
    client: TestClient, runtime: Runtime, case: str
) -> None:
    client.post("/v2/enqueue", json=fixture("pagerduty_v2_trigger.json"))
    before = counts(runtime)
    event, field = INVALID_EVENTS[case]
    response = client.post("/v2/enqueue", json=event)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["message"]) == ("invalid event", "Event object is invalid")
    assert any(error.startswith(f"{field}:") for error in body["errors"]), body
    assert counts(runtime) == before


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b""])
def test_pagerduty_body_that_is_not_an_event_object_is_400(
    client: TestClient, runtime: Runtime, raw: bytes
) -> None:
    response = client.post("/v2/enqueue", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["status"] == "invalid event"
    assert counts(runtime) == (0, 0, 0)


def _oversized_event() -> bytes:
    event = fixture("pagerduty_v2_trigger.json")
    event["payload"]["custom_details"] = {"blob": "x" * (512 * 1024)}
    return json.dumps(event).encode()


def test_pagerduty_body_over_512_kb_is_refused_by_its_length(client: TestClient, runtime: Runtime) -> None:
    response = client.post(
        "/v2/enqueue", content=_oversized_event(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "512 KB" in response.json()["errors"][0]
    assert counts(runtime) == (0, 0, 0)


def test_pagerduty_body_over_512_kb_without_a_length_is_refused_while_reading(
    client: TestClient, runtime: Runtime
) -> None:
    raw = _oversized_event()
    chunks = (raw[i : i + 65536] for i in range(0, len(raw), 65536))  # chunked: no Content-Length
    response = client.post("/v2/enqueue", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "512 KB" in response.json()["errors"][0]
    assert counts(runtime) == (0, 0, 0)


def test_body_just_under_the_limit_is_accepted(client: TestClient, runtime: Runtime) -> None:
    event = fixture("pagerduty_v2_trigger.json")
    event["payload"]["custom_details"] = {"blob": ""}
    room = 512 * 1024 - len(json.dumps(event).encode())
    event["payload"]["custom_details"] = {"blob": "x" * room}
    assert len(json.dumps(event).encode()) == 512 * 1024
    assert client.post("/v2/enqueue", content=json.dumps(event).encode()).status_code == 202
    assert len(alerts_of(runtime)) == 1


def test_a_key_sending_too_much_gets_429_and_nothing_is_stored(client: TestClient, runtime: Runtime) -> None:
    clock = [0.0]
    client.app.state.ingest_throttle = Throttle(rate_per_minute=60, burst=2, clock=lambda: clock[0])  # type: ignore[attr-defined]
    event = fixture("pagerduty_v2_trigger.json")
    assert [client.post("/v2/enqueue", json=event).status_code for _ in range(2)] == [202, 202]
    before = counts(runtime)
    throttled = client.post("/v2/enqueue", json=event)
    assert throttled.status_code == 429
    assert throttled.json()["status"] == "throttle event"
    assert throttled.headers["retry-after"] == "1"
    assert counts(runtime) == before
    assert (
        client.post("/integrations/generic/" + API_KEY, json={"status": "firing", "summary": "x"}).status_code
        == 429
    )
    clock[0] = 1.0  # one token back after a second at 60/min
    assert client.post("/v2/enqueue", json=event).status_code == 202
    assert alerts_of(runtime)[0].event_count == 3


def test_a_database_that_cannot_be_reached_is_a_503_to_retry_not_a_500(
    runtime: Runtime, client: TestClient
) -> None:
    before = counts(runtime)
    reachable = runtime.engine
    runtime.engine = create_db_engine("postgresql+psycopg://pager@127.0.0.1:1/gone")  # nothing listens
    try:
        pagerduty = client.post("/v2/enqueue", json=fixture("pagerduty_v2_trigger.json"))
        generic = client.post(f"/integrations/generic/{API_KEY}", json={"status": "firing", "summary": "x"})
    finally:
        runtime.engine.dispose()
        runtime.engine = reachable

    assert pagerduty.status_code == 503, pagerduty.text
    assert pagerduty.json() == {  # PagerDuty's shape on its route
        "status": "unavailable",
        "message": "the database is unavailable; retry later",
        "errors": ["the database is unavailable"],
    }
    assert generic.status_code == 503, generic.text
    assert generic.json()["error"]["code"] == "database_unavailable"
    assert pagerduty.headers["Retry-After"] == generic.headers["Retry-After"] == "5"
    assert counts(runtime) == before
    # Back again: the same key is accepted at once.
    assert client.post("/v2/enqueue", json=fixture("pagerduty_v2_trigger.json")).status_code == 202


# --- integration keys: remembered by the process, rotated by anyone ---------------------------------

ROTATED_KEY = "R0TATED0000000000000000000000001"


def rotate_behind_the_servers_back(runtime: Runtime, service_id: str, new_key: str) -> None:
    """Change a service's key in the database directly, as another process would."""
    with session_scope(runtime.engine) as session:
        session.execute(update(Service).where(Service.id == service_id).values(integration_key=new_key))  # type: ignore[arg-type]


def test_a_key_rotated_by_another_process_stops_working_at_once(client: TestClient, runtime: Runtime) -> None:
    event = fixture("pagerduty_v2_trigger.json")
    assert client.post("/v2/enqueue", json=event).status_code == 202  # the process now knows the key
    rotate_behind_the_servers_back(runtime, "api", ROTATED_KEY)
    before = counts(runtime)
    for action in ("trigger", "acknowledge", "resolve"):
        refused = client.post("/v2/enqueue", json={**event, "event_action": action})
        assert refused.status_code == 400, action
        assert refused.json()["errors"] == ["routing_key: Invalid routing key"]
    assert counts(runtime) == before
    assert client.post("/v2/enqueue", json={**event, "routing_key": ROTATED_KEY}).status_code == 202
    assert alerts_of(runtime)[0].event_count == 2


def test_a_rotated_key_is_refused_as_unknown_before_it_is_throttled_or_its_body_is_read(
    client: TestClient, runtime: Runtime
) -> None:
    clock = [0.0]
    client.app.state.ingest_throttle = Throttle(rate_per_minute=60, burst=1, clock=lambda: clock[0])  # type: ignore[attr-defined]
    generic = f"/integrations/generic/{API_KEY}"
    assert client.post(generic, json={"status": "firing", "summary": "x"}).status_code == 202
    assert client.post(generic, json={"status": "firing", "summary": "x"}).status_code == 429
    rotate_behind_the_servers_back(runtime, "api", ROTATED_KEY)
    before = counts(runtime)
    # An unknown key is refused first (404 / PagerDuty's 400), as if the process had never seen it.
    assert client.post(generic, json={"status": "firing", "summary": "x"}).status_code == 404
    assert client.post("/v2/enqueue", json=fixture("pagerduty_v2_trigger.json")).status_code == 400
    clock[0] = 60.0
    assert client.post(generic, json={"status": "firing"}).status_code == 404  # not 422
    assert (
        client.post(generic, content=b"{oops", headers={"content-type": "application/json"}).status_code
        == 404
    )
    assert counts(runtime) == before


def test_a_known_key_is_not_looked_up_again_before_the_write(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups: list[str] = []
    real_lookup = ingest_keys.service_for_key

    def counting_lookup(rt: Runtime, key: str) -> str | None:
        lookups.append(key)
        return real_lookup(rt, key)

    monkeypatch.setattr(ingest_keys, "service_for_key", counting_lookup)
    event = fixture("pagerduty_v2_trigger.json")
    assert [client.post("/v2/enqueue", json=event).status_code for _ in range(3)] == [202] * 3
    # Known from the start (the server read every service as it started); the trigger itself checks
    # the key in its write transaction.
    assert lookups == []
    unknown = {**event, "routing_key": "0" * 32}
    assert [client.post("/v2/enqueue", json=unknown).status_code for _ in range(2)] == [400] * 2
    assert lookups == ["0" * 32, "0" * 32]  # unknown keys are never remembered


# --- Alertmanager -----------------------------------------------------------------------------------


def test_alertmanager_group_is_one_alert_that_dedups_and_resolves(
    client: TestClient, runtime: Runtime
) -> None:
    firing = fixture("alertmanager_firing.json")
    response = client.post(f"/integrations/alertmanager/{API_KEY}", json=firing)
    assert response.status_code == 202
    group_hash = hashlib.sha256(firing["groupKey"].encode()).hexdigest()
    [entry] = response.json()["alerts"]
    assert (entry["dedup_key"], entry["action"]) == (group_hash, "triggered")
    [alert] = alerts_of(runtime)
    assert (alert.id, alert.summary, alert.severity) == (
        entry["id"],
        "[FIRING:2] 5xx ratio above 5% for 5 minutes",
        "critical",
    )
    members = alert.details["alerts"]
    assert [m["fingerprint"] for m in members] == ["c6a2b3f1e9d8a7b6", "0d1e2f3a4b5c6d7e"]
    assert members[1]["labels"]["instance"] == "web-2:9100"
    assert members[0]["startsAt"] == "2026-11-23T10:00:00.000Z"
    assert members[0]["annotations"]["runbook_url"] == "https://wiki.example.com/runbooks/high-error-rate"

    again = client.post(f"/integrations/alertmanager/{API_KEY}", json=firing)
    assert again.json()["alerts"] == [{"id": alert.id, "dedup_key": group_hash, "action": "deduplicated"}]
    assert alerts_of(runtime)[0].event_count == 2

    resolved = client.post(
        f"/integrations/alertmanager/{API_KEY}", json=fixture("alertmanager_resolved.json")
    )
    assert resolved.json() == {
        "status": "accepted",
        "alerts": [{"id": alert.id, "dedup_key": group_hash, "action": "resolved"}],
    }
    [alert] = alerts_of(runtime)
    assert (alert.status, alert.resolved_by) == ("resolved", "alertmanager")
    assert alert.id is not None
    assert timeline_kinds(runtime, alert.id) == [
        "triggered",
        "level_paged",
        "trigger_repeated",
        "resolved",
        "pages_cancelled",
    ]


def test_captured_alertmanager_webhook_and_pagerduty_receiver_address_the_same_alert(
    client: TestClient, runtime: Runtime
) -> None:
    """Alertmanager's PagerDuty receiver keys by the group key's SHA-256, as the webhook mapping does."""
    firing = client.post(
        f"/integrations/alertmanager/{CAPTURED_KEY}",
        json=fixture("alertmanager-0.25_captured_webhook_firing.json"),
    )
    assert firing.status_code == 202
    captured_trigger = fixture("alertmanager-0.25_captured_pagerduty_trigger.json")
    assert firing.json()["alerts"][0]["dedup_key"] == captured_trigger["dedup_key"]
    assert client.post("/v2/enqueue", json=captured_trigger).status_code == 202
    [alert] = alerts_of(runtime)
    assert (alert.service_id, alert.event_count, alert.summary) == (
        "checkout",
        2,
        "5xx error rate above 5% on checkout-api",
    )
    assert (
        client.post(
            "/v2/enqueue", json=fixture("alertmanager-0.25_captured_pagerduty_resolve.json")
        ).status_code
        == 202
    )
    assert alerts_of(runtime)[0].status == "resolved"
    # The webhook's own resolve for the same group now finds nothing open: accepted, ignored.
    late = client.post(
        f"/integrations/alertmanager/{CAPTURED_KEY}",
        json=fixture("alertmanager-0.25_captured_webhook_resolved.json"),
    )
    assert late.json()["alerts"][0] == {
        "id": None,
        "dedup_key": captured_trigger["dedup_key"],
        "action": "ignored",
    }
    assert len(alerts_of(runtime)) == 1


def test_alertmanager_pagerduty_receiver_event_is_accepted_on_enqueue(
    client: TestClient, runtime: Runtime
) -> None:
    response = client.post("/v2/enqueue", json=fixture("alertmanager_pagerduty_v2_event.json"))
    assert response.status_code == 202
    [alert] = alerts_of(runtime)
    assert (alert.severity, alert.source, alert.details["client"]) == (
        "error",
        "Alertmanager",
        "Alertmanager",
    )
    assert alert.details["custom_details"]["num_firing"] == "2"


# --- Grafana and generic ----------------------------------------------------------------------------


def test_grafana_firing_then_ok_resolves_its_group(client: TestClient, runtime: Runtime) -> None:
    firing = fixture("grafana_firing.json")
    response = client.post(f"/integrations/grafana/{API_KEY}", json=firing)
    assert response.status_code == 202
    [alert] = alerts_of(runtime)
    assert (alert.summary, alert.severity, alert.source) == (
        "CPU above 90% for 10 minutes",
        "warning",
        "web-1",
    )
    assert alert.details["title"] == "[FIRING:1] HighCPU Infrastructure (web-1 warning)"
    assert alert.details["alerts"][0]["values"] == {"A": 92.5}
    resolved = copy.deepcopy(firing)
    resolved["status"], resolved["state"] = "resolved", "ok"
    resolved["alerts"][0]["status"] = "resolved"
    answer = client.post(f"/integrations/grafana/{API_KEY}", json=resolved)
    assert answer.json()["alerts"][0]["action"] == "resolved"
    assert alerts_of(runtime)[0].status == "resolved"


def test_generic_firing_and_resolved(client: TestClient, runtime: Runtime) -> None:
    url = f"/integrations/generic/{API_KEY}"
    fired = client.post(
        url,
        json={
            "status": "firing",
            "summary": "Backup failed",
            "dedup_key": "backup",
            "severity": "warning",
            "details": {"job": "nightly"},
        },
    )
    assert fired.status_code == 202
    [alert] = alerts_of(runtime)
    assert (alert.summary, alert.severity, alert.details["details"]) == (
        "Backup failed",
        "warning",
        {"job": "nightly"},
    )
    done = client.post(url, json={"status": "resolved", "dedup_key": "backup"})
    assert done.json()["alerts"] == [{"id": alert.id, "dedup_key": "backup", "action": "resolved"}]
    assert alerts_of(runtime)[0].status == "resolved"


INVALID_INTEGRATION_BODIES = {
    "alertmanager status unknown": (
        "alertmanager",
        {**fixture("alertmanager_firing.json"), "status": "burning"},
        "body.status",
    ),
    "alertmanager no alerts": (
        "alertmanager",
        {**fixture("alertmanager_firing.json"), "alerts": []},
        "body.alerts",
    ),
    "alertmanager no group key": (
        "alertmanager",
        {k: v for k, v in fixture("alertmanager_firing.json").items() if k != "groupKey"},
        "body.groupKey",
    ),
    "alertmanager label not a string": (
        "alertmanager",
        {**fixture("alertmanager_firing.json"), "commonLabels": {"x": 1}},
        "body.commonLabels.x",
    ),
    "grafana no status or state": (
        "grafana",
        {k: v for k, v in fixture("grafana_firing.json").items() if k not in ("status", "state")},
        "body.status",
    ),
    "generic firing without summary": ("generic", {"status": "firing"}, "body.summary"),
    "generic resolved without dedup key": ("generic", {"status": "resolved"}, "body.dedup_key"),
    "generic severity unknown": (
        "generic",
        {"status": "firing", "summary": "x", "severity": "p0"},
        "body.severity",
    ),
    "generic not an object": ("generic", ["firing"], "body"),
}


@pytest.mark.parametrize("case", sorted(INVALID_INTEGRATION_BODIES))
def test_integration_body_breaking_the_schema_is_422_naming_the_field(
    client: TestClient, runtime: Runtime, case: str
) -> None:
    kind, body, field = INVALID_INTEGRATION_BODIES[case]
    response = client.post(f"/integrations/{kind}/{API_KEY}", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert field in [detail["field"] for detail in error["details"]], error
    assert counts(runtime) == (0, 0, 0)


def test_integration_refusals_use_the_pager_error_shape_and_store_nothing(
    client: TestClient, runtime: Runtime
) -> None:
    firing = fixture("alertmanager_firing.json")
    unknown_key = client.post("/integrations/alertmanager/" + "0" * 32, json=firing)
    assert unknown_key.status_code == 404 and unknown_key.json()["error"]["code"] == "not_found"
    unknown_kind = client.post(f"/integrations/nagios/{API_KEY}", json=firing)
    assert unknown_kind.status_code == 404 and unknown_kind.json()["error"]["code"] == "not_found"
    not_json = client.post(
        f"/integrations/alertmanager/{API_KEY}",
        content=b"{oops",
        headers={"content-type": "application/json"},
    )
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "bad_request"
    too_big = client.post(f"/integrations/generic/{API_KEY}", content=b"x" * (512 * 1024 + 1))
    assert too_big.status_code == 413 and "512 KB" in too_big.json()["error"]["message"]
    assert counts(runtime) == (0, 0, 0)


def test_the_ingest_routes_are_the_apps_first_routes_matched_by_path_alone(runtime: Runtime) -> None:
    """A regression guard for speed: FastAPI matched them, as an included router's, through a context
    built per request (bench/README.md)."""
    app = create_app(runtime, run_worker=False)
    first = app.router.routes[:4]
    assert all(isinstance(route, DirectRoute) for route in first)
    assert [route.path for route in first if isinstance(route, DirectRoute)] == [
        "/v2/enqueue",
        *(f"/integrations/{kind}/{{key}}" for kind in ("alertmanager", "grafana", "generic")),
    ]


def test_openapi_documents_the_ingest_bodies_and_answers(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    enqueue = spec["paths"]["/v2/enqueue"]["post"]
    schema = enqueue["requestBody"]["content"]["application/json"]["schema"]
    assert {"routing_key", "event_action"} <= set(schema["required"])
    assert "$defs" not in json.dumps(schema)
    assert {"202", "400", "429"} <= set(enqueue["responses"])
    for kind in ("alertmanager", "grafana", "generic"):
        operation = spec["paths"][f"/integrations/{kind}/{{key}}"]["post"]
        assert {"202", "400", "404", "413", "422", "429"} <= set(operation["responses"])
        assert "schema" in operation["requestBody"]["content"]["application/json"]
        assert [(p["name"], p["in"]) for p in operation["parameters"]] == [("key", "path")]


# --- unknown keys: per-address limit -------------------------------------------------------------


class Statements:
    """Counts the SQL statements the engine runs (to show a refusal never asked the database)."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self.seen)

    def seen(self, *_args: Any) -> None:
        self.count += 1


def address(app: Any, host: str) -> httpx.AsyncClient:
    """A client whose requests come from `host` (the peer address the limiter counts by)."""
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://pager.test")


def test_an_address_sending_unknown_keys_is_refused_but_known_keys_still_get_through(
    runtime: Runtime,
) -> None:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = lambda: T0
    firing = fixture("alertmanager_firing.json")
    event = fixture("pagerduty_v2_trigger.json")
    statements = Statements(runtime.engine)

    async def scenario() -> None:
        async with address(app, "192.0.2.66") as guesser, address(app, "198.51.100.7") as other:
            guesses = [f"/integrations/alertmanager/{n:032x}" for n in range(20)]
            assert [(await guesser.post(path, json=firing)).status_code for path in guesses] == [404] * 20
            stored = counts(runtime)
            seen = statements.count
            # The 21st unknown key is refused before its body is read or the database is asked.
            refused = await guesser.post("/integrations/alertmanager/" + "f" * 32, content=b"{not json")
            assert refused.status_code == 429, refused.text
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            assert refused.json()["error"]["code"] == "throttled"
            assert "too many failed requests" in refused.json()["error"]["message"]
            pd_refused = await guesser.post("/v2/enqueue", json=event | {"routing_key": "e" * 32})
            assert pd_refused.status_code == 429 and pd_refused.json()["status"] == "throttle event"
            assert "retry-after" in pd_refused.headers
            # A key this process has not yet seen work is refused like any other (no lifespan ran
            # here: as for a key made after the start; a started server knows the others, below)...
            assert (
                await guesser.post(f"/integrations/alertmanager/{API_KEY}", json=firing)
            ).status_code == 429
            assert statements.count == seen
            assert counts(runtime) == stored
            # ...while another address is not affected at all,
            accepted = await other.post(f"/integrations/alertmanager/{API_KEY}", json=firing)
            assert accepted.status_code == 202, accepted.text
            # and once the key is known to work, it gets through from the refused address too: one
            # misconfigured sender must not block the good integrations sharing its address.
            assert (
                await guesser.post(f"/integrations/alertmanager/{API_KEY}", json=firing)
            ).status_code == 202
            assert (await guesser.post("/v2/enqueue", json=event)).status_code == 202
            assert (await guesser.post("/integrations/generic/" + "d" * 32, json={})).status_code == 429

    asyncio.run(scenario())
    assert len(alerts_of(runtime)) == 2


def test_a_started_server_knows_every_service_key_before_its_first_event(runtime: Runtime) -> None:
    # After a restart a good integration sharing an address with a sender of unknown keys (one
    # Alertmanager, one proxy) had its first alert refused for up to a minute: the process had not
    # yet seen its key work. Starting, the server reads every service (sync_declared_services).
    app = create_app(runtime, run_worker=False)
    firing = fixture("alertmanager_firing.json")

    async def scenario() -> list[int]:
        async with app.router.lifespan_context(app), address(app, "192.0.2.77") as shared:
            statuses = [
                (await shared.post(f"/integrations/alertmanager/{n:032x}", json=firing)).status_code
                for n in range(21)
            ]
            statuses.append(
                (await shared.post(f"/integrations/alertmanager/{API_KEY}", json=firing)).status_code
            )
            statuses.append((await shared.post("/integrations/generic/" + "d" * 32, json={})).status_code)
            return statuses

    assert asyncio.run(scenario()) == [404] * 20 + [429, 202, 429]
    assert len(alerts_of(runtime)) == 1


def test_unknown_routing_keys_on_the_pagerduty_route_count_too(runtime: Runtime) -> None:
    app = create_app(runtime, run_worker=False)
    event = fixture("pagerduty_v2_trigger.json")

    async def scenario() -> list[int]:
        async with address(app, "2001:db8:5:6::1") as first, address(app, "2001:db8:5:6::2") as neighbour:
            statuses = [
                (await first.post("/v2/enqueue", json=event | {"routing_key": f"{n:032x}"})).status_code
                for n in range(20)
            ]
            statuses.append((await neighbour.post("/integrations/generic/" + "0" * 32, json={})).status_code)
            return statuses

    assert asyncio.run(scenario()) == [400] * 20 + [429]  # an IPv6 host's /64 is one address
    assert counts(runtime) == (0, 0, 0)
