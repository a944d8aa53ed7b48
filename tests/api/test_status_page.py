"""The public status page over HTTP (docs/status-page.md): /status, /status.json and
/status/feed.atom, built from incidents declared and updated through the REST API.

What must never be published is planted in every incident (title, internal update, note, alert
text, people, severity) and looked for in all three answers. The page is cached for a few seconds by
the request clock: tests move the clock on to see a change.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from pager.api.app import create_app
from pager.api.deps import get_now
from pager.db.session import session_scope
from pager.services.alerting import alerts
from pager.services.runtime import Runtime
from tests.api.test_rest import NOW, assert_error, auth, runtime, tokens
from tests.support import Clock

__all__ = ["runtime", "tokens"]  # the fixtures this module uses

pytestmark = pytest.mark.database

ATOM = "{http://www.w3.org/2005/Atom}"
# Words that are in the incidents but must never be published.
SECRETS = (
    "SECRET-TITLE",
    "INTERNAL-UPDATE",
    "NOTE-TEXT",
    "ALERT-TEXT",
    "DRILL-PUBLIC",
    "SEV1",
    "SEV0",
    "alice",
    "Alice",
    "bob",
    "Bob",
    "token:",
)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def client(runtime: Runtime, clock: Clock) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = clock
    app.state.token_usage.clock = clock
    with TestClient(app) as test_client:
        yield test_client


def declare(client: TestClient, tokens: dict[str, str], **fields: Any) -> int:
    body = {
        "title": "SECRET-TITLE db-7 out of memory",
        "severity": "SEV1",
        "services": ["api"],
        "customer_impact": True,
        "commander": "bob",
    } | fields
    answer = client.post("/api/v1/incidents", json=body, headers=auth(tokens, "responder"))
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def post(client: TestClient, tokens: dict[str, str], incident_id: int, text: str, **fields: Any) -> int:
    body = {"text": text, "public": True} | fields
    answer = client.post(
        f"/api/v1/incidents/{incident_id}/updates", json=body, headers=auth(tokens, "responder")
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def move(client: TestClient, tokens: dict[str, str], incident_id: int, status: str) -> None:
    answer = client.post(
        f"/api/v1/incidents/{incident_id}/status",
        json={"status": status, "message": "INTERNAL-UPDATE status moved"},
        headers=auth(tokens, "responder"),
    )
    assert answer.status_code == 200, answer.text


def note(client: TestClient, tokens: dict[str, str], incident_id: int) -> None:
    answer = client.post(
        f"/api/v1/incidents/{incident_id}/notes",
        json={"text": "NOTE-TEXT bob restarted db-7"},
        headers=auth(tokens, "responder"),
    )
    assert answer.status_code in (200, 201), answer.text


def fetch(client: TestClient) -> tuple[str, dict[str, Any], str]:
    """(HTML, JSON document, Atom XML), each checked for its status and type."""
    html = client.get("/status")
    assert html.status_code == 200, html.text
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    document = client.get("/status.json")
    assert document.status_code == 200 and document.headers["content-type"] == "application/json"
    feed = client.get("/status/feed.atom")
    assert feed.status_code == 200
    assert feed.headers["content-type"] == "application/atom+xml; charset=utf-8"
    return html.text, document.json(), feed.text


def assert_nothing_secret(*answers: str) -> None:
    for answer in answers:
        for secret in SECRETS:
            assert secret not in answer, f"{secret!r} was published"


def entries(feed: str) -> list[ET.Element]:
    return ET.fromstring(feed.encode()).findall(f"{ATOM}entry")


def test_only_public_updates_appear_in_the_page_the_json_and_the_feed(
    client: TestClient, tokens: dict[str, str], runtime: Runtime, clock: Clock
) -> None:
    alert_id = alerts.trigger_alert(
        runtime, service_id="api", summary="ALERT-TEXT heap at 99%", now=NOW, dedup_key="oom"
    ).alert_id
    incident_id = declare(client, tokens, alerts=[alert_id])
    clock.advance(minutes=2)
    post(client, tokens, incident_id, "Checkout errors: we are looking into it.")
    clock.advance(minutes=3)
    post(client, tokens, incident_id, "INTERNAL-UPDATE bob thinks it is db-7", public=False)
    note(client, tokens, incident_id)
    clock.advance(minutes=4)
    post(client, tokens, incident_id, "Cause found; rolling back.", status="identified")

    html, document, feed = fetch(client)
    assert_nothing_secret(html, str(document), feed)
    for shown in (html, str(document), feed):
        assert "Checkout errors: we are looking into it." in shown
        assert "Cause found; rolling back." in shown

    assert document["state"] == "partial_outage"
    assert document["components"] == [
        {"id": "api", "name": "API", "state": "partial_outage"},
        {"id": "web", "name": "Web", "state": "operational"},
    ]
    (incident,) = document["incidents"]
    assert incident["status"] == "identified" and incident["impact"] == "major"
    assert incident["headline"] == "Partial outage: API"
    assert [u["text"] for u in incident["updates"]] == [  # newest first
        "Cause found; rolling back.",
        "Checkout errors: we are looking into it.",
    ]
    assert [u["status"] for u in incident["updates"]] == ["identified", None]
    assert set(incident["updates"][0]) == {"id", "at", "status", "text"}  # no author
    assert html.index("Cause found") < html.index("Checkout errors")
    assert "Partial outage" in html and "Operational" in html
    assert [e.findtext(f"{ATOM}content") for e in entries(feed)] == [
        "Cause found; rolling back.",
        "Checkout errors: we are looking into it.",
    ]


def test_a_drill_never_appears_and_changes_no_component(
    client: TestClient, tokens: dict[str, str], clock: Clock
) -> None:
    drill = declare(client, tokens, drill=True, severity="SEV0", services=["api", "web"])
    post(client, tokens, drill, "DRILL-PUBLIC everything is down (practice)")
    clock.advance(minutes=1)
    move(client, tokens, drill, "resolved")
    other = declare(client, tokens, drill=True, severity="SEV0", services=["api"])
    post(client, tokens, other, "DRILL-PUBLIC still practising")
    html, document, feed = fetch(client)
    assert_nothing_secret(html, str(document), feed)
    assert document["state"] == "operational"
    assert {c["state"] for c in document["components"]} == {"operational"}
    assert document["incidents"] == [] and document["history"]["days"] == []
    assert entries(feed) == []
    assert "All systems operational" in html and "No current incidents." in html


def test_an_incident_without_impact_or_public_update_is_not_shown(
    client: TestClient, tokens: dict[str, str]
) -> None:
    quiet = declare(client, tokens, customer_impact=False, severity="SEV0")
    post(client, tokens, quiet, "INTERNAL-UPDATE nothing for customers", public=False)
    html, document, feed = fetch(client)
    assert_nothing_secret(html, str(document), feed)
    assert document["incidents"] == [] and document["state"] == "operational"


def test_the_history_holds_90_days_grouped_by_day_newest_first(
    client: TestClient, tokens: dict[str, str], clock: Clock
) -> None:
    def past_incident(days_ago: float, text: str) -> int:
        clock.now = NOW - timedelta(days=days_ago)
        incident_id = declare(client, tokens)
        post(client, tokens, incident_id, f"{text}: investigating")
        clock.advance(minutes=30)
        post(client, tokens, incident_id, f"{text}: fixed", status="resolved")
        clock.advance(minutes=30)
        move(client, tokens, incident_id, "closed")
        return incident_id

    past_incident(91, "Too old")
    past_incident(89.9, "Old enough")
    past_incident(2, "Tuesday")
    past_incident(1.9, "Tuesday later")
    past_incident(0.5, "Today")
    clock.now = NOW
    html, document, feed = fetch(client)
    assert_nothing_secret(html, str(document), feed)
    assert "Too old" not in html + str(document) + feed
    days = document["history"]["days"]
    assert [day["date"] for day in days] == ["2026-03-04", "2026-03-02", "2025-12-04"]
    assert [[u["text"] for u in i["updates"]] for i in days[1]["incidents"]] == [
        ["Tuesday later: fixed", "Tuesday later: investigating"],
        ["Tuesday: fixed", "Tuesday: investigating"],
    ]
    assert {i["status"] for day in days for i in day["incidents"]} == {"resolved"}
    assert days[0]["incidents"][0]["resolved_at"] == (NOW - timedelta(hours=11, minutes=30)).isoformat()
    assert document["history"]["since"] == (NOW - timedelta(days=90)).isoformat()
    assert html.index("Today: fixed") < html.index("Tuesday later: fixed") < html.index("Old enough: fixed")
    titles = [e.findtext(f"{ATOM}content") for e in entries(feed)]
    assert titles[:3] == ["Today: fixed", "Today: investigating", "Tuesday later: fixed"]
    assert "Too old: fixed" not in titles


def test_the_feed_is_valid_atom_with_stable_ids_and_utc_times(
    client: TestClient, tokens: dict[str, str], clock: Clock
) -> None:
    incident_id = declare(client, tokens)
    first = post(client, tokens, incident_id, "Looking into checkout errors & <timeouts>.")
    clock.advance(minutes=10)
    _, _, before = fetch(client)
    clock.advance(minutes=10)
    second = post(client, tokens, incident_id, "Rolled back.\nWatching.", status="monitoring")
    clock.advance(seconds=6)  # past the cache's few seconds
    _, _, after = fetch(client)

    root = ET.fromstring(after.encode())
    assert root.tag == f"{ATOM}feed"
    assert root.findtext(f"{ATOM}id") == "tag:pager.example.com,2026:status"
    assert root.findtext(f"{ATOM}title") and root.find(f"{ATOM}author/{ATOM}name") is not None
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert links == {
        "alternate": "https://pager.example.com/status",
        "self": "https://pager.example.com/status/feed.atom",
    }
    found = entries(after)
    assert [e.findtext(f"{ATOM}id") for e in found] == [
        f"tag:pager.example.com,2026:status/update/{second}",
        f"tag:pager.example.com,2026:status/update/{first}",
    ]
    assert [e.findtext(f"{ATOM}id") for e in entries(before)] == [found[1].findtext(f"{ATOM}id")]
    posted_second = (NOW + timedelta(minutes=20)).isoformat()
    assert root.findtext(f"{ATOM}updated") == posted_second  # the newest entry's instant
    assert [e.findtext(f"{ATOM}updated") for e in found] == [posted_second, NOW.isoformat()]
    assert all(e.findtext(f"{ATOM}published") == e.findtext(f"{ATOM}updated") for e in found)
    for entry in found:
        assert entry.findtext(f"{ATOM}updated", "").endswith("+00:00")
        assert entry.findtext(f"{ATOM}title")
        content = entry.find(f"{ATOM}content")
        assert content is not None and content.get("type") == "text"
        link = entry.find(f"{ATOM}link")
        assert link is not None and link.get("href") == "https://pager.example.com/status#incident-1"
    assert found[1].findtext(f"{ATOM}content") == "Looking into checkout errors & <timeouts>."
    assert found[0].findtext(f"{ATOM}title") == "Monitoring: Partial outage: API"


def test_answers_are_cached_for_a_few_seconds_whatever_the_request_says(
    client: TestClient, tokens: dict[str, str], runtime: Runtime, clock: Clock
) -> None:
    incident_id = declare(client, tokens)
    post(client, tokens, incident_id, "First words.")
    fetch(client)
    refreshes = runtime.status_page.refreshes
    clock.advance(seconds=1)
    post(client, tokens, incident_id, "Second words.")
    for path in ("/status", "/status?x=1", "/status.json?cache=no", "/status/feed.atom", "/status#y"):
        answer = client.get(path, headers={"Cache-Control": "no-cache", "Pragma": "no-cache"})
        assert answer.status_code == 200 and "Second words." not in answer.text
    assert runtime.status_page.refreshes == refreshes  # nothing a visitor sends makes a new read
    clock.advance(seconds=5)
    assert "Second words." in client.get("/status").text
    assert runtime.status_page.refreshes == refreshes + 1


def test_etags_headers_and_a_304(client: TestClient, tokens: dict[str, str]) -> None:
    post(client, tokens, declare(client, tokens), "Looking.")
    for path in ("/status", "/status.json", "/status/feed.atom"):
        answer = client.get(path)
        assert answer.headers["cache-control"] == "public, max-age=5"
        etag = answer.headers["etag"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
    page = client.get("/status")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert '<link rel="stylesheet" href="/static/status.css">' in page.text
    assert client.get("/static/status.css").status_code == 200


def test_a_failed_read_is_a_503_and_is_not_retried_for_a_few_seconds(
    client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    with session_scope(runtime.engine) as session:
        session.execute(text("DROP TABLE incident_updates"))
    for path in ("/status", "/status.json"):
        answer = client.get(path)
        assert_error(answer, 503, "unavailable")
        assert answer.headers["retry-after"] == "5"
    assert runtime.status_page.refreshes == 1
    clock.advance(seconds=5)
    assert_error(client.get("/status/feed.atom"), 503, "unavailable")
    assert runtime.status_page.refreshes == 2


def test_the_page_is_not_in_the_console_and_needs_no_login(client: TestClient) -> None:
    html = client.get("/status")
    assert html.status_code == 200
    assert "Log out" not in html.text and "/alerts" not in html.text
    assert 'href="/status/feed.atom"' in html.text


def test_while_the_database_fails_the_last_page_is_served_for_a_minute(
    client: TestClient, tokens: dict[str, str], runtime: Runtime, clock: Clock
) -> None:
    post(client, tokens, declare(client, tokens), "Looking.")
    assert "Looking." in client.get("/status").text
    with session_scope(runtime.engine) as session:
        session.execute(text("DROP TABLE incident_updates"))
    clock.advance(seconds=6)
    answer = client.get("/status")  # its refresh fails: the rendering of 6 s ago answers
    assert answer.status_code == 200 and "Looking." in answer.text
    assert runtime.status_page.refreshes == 2
    clock.advance(seconds=55)  # 61 s old: too old to stand in
    assert_error(client.get("/status.json"), 503, "unavailable")
    assert runtime.status_page.refreshes == 3


def test_the_three_routes_are_documented_without_security(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/status", "/status.json", "/status/feed.atom"):
        operation = paths[path]["get"]
        assert operation["summary"] and "security" not in operation
        assert set(operation["responses"]) >= {"200", "304", "503"}
        example = operation["responses"]["503"]["content"]["application/json"]["example"]
        assert example["error"]["code"] == "unavailable"
