"""The console's incident pages in process: /incidents and /incidents/{id} show what the API shows,
their forms change incidents through the API's services, and a missing CSRF token, a viewer's forged
POST or input the services refuse change nothing (refusals re-render the page with a message)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pager.api.app import create_app
from pager.api.deps import get_now
from pager.services.runtime import Runtime
from tests.api.test_rest import NOW, auth, runtime, tokens
from tests.services.incident_fixtures import snapshot

__all__ = ["runtime", "tokens"]  # the fixtures this module uses

pytestmark = pytest.mark.database

Login = Callable[[str], TestClient]


@pytest.fixture
def api(runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = lambda: NOW
    app.state.token_usage.clock = lambda: NOW
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def login(runtime: Runtime, tokens: dict[str, str]) -> Iterator[Login]:
    """A console client logged in with the token of a role (each its own cookie jar)."""
    opened: list[TestClient] = []

    def open_as(role: str) -> TestClient:
        app = create_app(runtime, run_worker=False)
        app.dependency_overrides[get_now] = lambda: NOW
        client = TestClient(app, base_url="https://testserver", follow_redirects=False)
        client.__enter__()
        opened.append(client)
        answer = client.post("/login/token", data={"csrf": csrf(client, "/login"), "token": tokens[role]})
        assert answer.status_code == 303, answer.text
        return client

    yield open_as
    for client in opened:
        client.__exit__(None, None, None)


def csrf(client: TestClient, path: str = "/incidents") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def declared(api: TestClient, tokens: dict[str, str], **body: Any) -> int:
    body = {"title": "API errors", "severity": "SEV1", "services": ["api"], **body}
    answer = api.post("/api/v1/incidents", json=body, headers=auth(tokens, "responder"))
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def shown(api: TestClient, tokens: dict[str, str], incident_id: int) -> dict[str, Any]:
    answer = api.get(f"/api/v1/incidents/{incident_id}", headers=auth(tokens, "viewer"))
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def text_of(html: str) -> str:
    """The page's words, tags dropped and spaces squeezed (what a reader sees)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_list_shows_open_incidents_first_then_closed_ones_and_marks_drills(
    api: TestClient, tokens: dict[str, str], login: Login
) -> None:
    responder = auth(tokens, "responder")
    old = declared(api, tokens, title="Old outage", severity="SEV0")
    for status in ("resolved", "closed"):
        answer = api.post(f"/api/v1/incidents/{old}/status", json={"status": status}, headers=responder)
        assert answer.status_code == 200, answer.text
    declared(api, tokens, title="Game day", severity="SEV2", drill=True)
    declared(api, tokens, title="Slow search", severity="SEV1")

    viewer = login("viewer")
    assert viewer.get("/").text.count('href="/incidents"') == 1  # the nav link
    listed = viewer.get("/incidents")
    assert listed.status_code == 200
    words = text_of(listed.text)
    assert words.index("Slow search") < words.index("Game day") < words.index("Old outage")
    assert "[DRILL] Game day" in words
    assert "Declare an incident" not in listed.text  # a viewer gets no form
    only_open = text_of(viewer.get("/incidents?status=open").text)
    assert "Slow search" in only_open and "Old outage" not in only_open
    only_closed = text_of(viewer.get("/incidents?status=closed").text)
    assert "Old outage" in only_closed and "Slow search" not in only_closed
    sev2 = text_of(viewer.get("/incidents?severity=SEV2").text)
    assert "Game day" in sev2 and "Slow search" not in sev2 and "Old outage" not in sev2
    assert viewer.get("/incidents?severity=SEV9").status_code == 422


def test_pages_need_a_login(runtime: Runtime) -> None:
    with TestClient(create_app(runtime, run_worker=False), follow_redirects=False) as anonymous:
        assert anonymous.get("/incidents").headers["location"] == "/login?next=/incidents"
        assert anonymous.get("/incidents/1").headers["location"] == "/login?next=/incidents/1"
        assert anonymous.post("/incidents", data={"title": "x", "severity": "SEV1"}).status_code == 403


def test_the_incident_page_shows_updates_roles_milestones_postmortem_and_action_items(
    api: TestClient, tokens: dict[str, str], login: Login
) -> None:
    responder = auth(tokens, "responder")
    incident = declared(api, tokens, title="Checkout down", severity="SEV0", customer_impact=True)
    base = f"/api/v1/incidents/{incident}"
    steps = [
        (f"{base}/roles", {"role": "commander", "user": "alice"}),
        (f"{base}/roles", {"role": "commander", "user": "bob", "reason": "alice hands over"}),
        (f"{base}/updates", {"text": "We are looking into checkout errors.", "public": True}),
        (f"{base}/updates", {"text": "Suspect deploy 412.", "public": False}),
        (f"{base}/status", {"status": "resolved"}),
        (
            "/api/v1/action-items",
            {"incident": incident, "title": "Add a canary", "owner": "carol", "due": "2026-03-09"},
        ),
    ]
    for path, body in steps:
        answer = api.post(path, json=body, headers=responder)
        assert answer.status_code in (200, 201), (path, answer.text)

    page = login("viewer").get(f"/incidents/{incident}")
    assert page.status_code == 200
    words = text_of(page.text)
    assert "Incident 1: Checkout down" in words
    assert "SEV0" in words and "resolved" in words and "yes: customers are affected" in words
    # Newest first, each marked public or internal.
    internal = words.index("internal 2026-03-04 15:20 UTC by alice")
    public = words.index("public 2026-03-04 15:20 UTC by alice")
    assert internal < public
    assert words.index("Suspect deploy 412.") < words.index("We are looking into checkout errors.")
    assert "incident commander bob" in words  # the current holder
    assert "alice hands over" in words and "2026-03-04 15:20 UTC by alice: alice hands over" in words
    assert "declared 2026-03-04 15:20 UTC" in words and "resolved 2026-03-04 15:20 UTC" in words
    assert "Postmortem Status draft Due" in words
    assert "Add a canary carol 2026-03-09 no" in words
    assert "internal update: Suspect deploy 412." in words  # the timeline
    assert "Post a status update" not in page.text and "Assign role" not in page.text


def test_a_responder_declares_and_changes_an_incident_through_the_forms(
    api: TestClient, tokens: dict[str, str], login: Login
) -> None:
    console = login("responder")
    assert "Declare an incident" in console.get("/incidents").text
    form = {
        "csrf": csrf(console),
        "title": "Checkout errors",
        "severity": "SEV1",
        "services": "api, web",
        "customer_impact": "true",
    }
    answer = console.post("/incidents", data=form)
    assert answer.status_code == 303
    incident = int(answer.headers["location"].rsplit("/", 1)[1])
    assert answer.headers["location"] == f"/incidents/{incident}"
    document = shown(api, tokens, incident)
    assert (document["title"], document["severity"], document["customer_impact"]) == (
        "Checkout errors",
        "SEV1",
        True,
    )
    assert document["services"] == ["api", "web"] and document["declared_by"] == "console:responder"

    token = csrf(console, f"/incidents/{incident}")
    base = f"/incidents/{incident}"
    posts = [
        ("updates", {"text": "Customers see errors at checkout.", "public": "true", "status": "identified"}),
        ("severity", {"severity": "SEV0", "reason": "all regions"}),
        ("roles", {"role": "scribe", "user": "carol", "reason": "takes notes", "notify": "true"}),
        ("status", {"status": "monitoring", "message": "rolled back"}),
    ]
    for action, data in posts:
        answer = console.post(f"{base}/{action}", data={"csrf": token, **data})
        assert (answer.status_code, answer.headers.get("location")) == (303, base), (action, answer.text)

    document = shown(api, tokens, incident)
    assert (document["status"], document["severity"]) == ("monitoring", "SEV0")
    assert document["roles"]["scribe"] == "carol"
    paged = [line["text"] for line in document["timeline"] if line["kind"] == "role_paged"]
    assert paged == ["carol paged as scribe"]
    updates = api.get(f"/api/v1/incidents/{incident}/updates", headers=auth(tokens, "viewer")).json()["items"]
    assert [(u["text"], u["public"], u["status"]) for u in updates] == [
        ("Customers see errors at checkout.", True, "identified")
    ]
    page = text_of(console.get(base).text)
    assert "public 2026-03-04 15:20 UTC by console:responder (moved to identified)" in page


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    api: TestClient, tokens: dict[str, str], login: Login, runtime: Runtime
) -> None:
    incident = declared(api, tokens)
    console = login("responder")
    before = snapshot(runtime)
    posts = [
        ("/incidents", {"title": "Forged", "severity": "SEV1"}),
        (f"/incidents/{incident}/updates", {"text": "forged", "public": "true"}),
        (f"/incidents/{incident}/status", {"status": "identified"}),
        (f"/incidents/{incident}/severity", {"severity": "SEV0"}),
        (f"/incidents/{incident}/roles", {"role": "scribe", "user": "carol"}),
    ]
    for path, data in posts:
        for forged in ({}, {"csrf": "not-the-sessions"}):
            assert console.post(path, data={**data, **forged}).status_code == 403, (path, forged)
    assert snapshot(runtime) == before


def test_a_viewer_sees_no_forms_and_a_forged_post_is_refused(
    api: TestClient, tokens: dict[str, str], login: Login, runtime: Runtime
) -> None:
    incident = declared(api, tokens)
    viewer = login("viewer")
    page = viewer.get(f"/incidents/{incident}").text
    assert "<form" not in page.replace('<form class="inline" method="post" action="/logout">', "")
    token = csrf(viewer)  # the session's own token: the role alone must refuse
    before = snapshot(runtime)
    posts = [
        ("/incidents", {"title": "Forged", "severity": "SEV1"}),
        (f"/incidents/{incident}/updates", {"text": "forged", "public": "true"}),
        (f"/incidents/{incident}/status", {"status": "identified"}),
        (f"/incidents/{incident}/severity", {"severity": "SEV0"}),
        (f"/incidents/{incident}/roles", {"role": "scribe", "user": "carol"}),
    ]
    for path, data in posts:
        answer = viewer.post(path, data={"csrf": token, **data})
        assert answer.status_code == 403 and "responder role" in answer.text, (path, answer.text)
    assert snapshot(runtime) == before


@pytest.mark.parametrize(
    ("action", "data", "status", "message"),
    [
        ("roles", {"role": "scribe", "user": "nobody"}, 422, "no user &#39;nobody&#39;"),
        ("roles", {"role": "janitor", "user": "carol"}, 422, "unknown role &#39;janitor&#39;"),
        ("updates", {"text": "   ", "public": "true"}, 422, "a status update needs text"),
        ("updates", {"text": "x", "status": "sleeping"}, 422, "unknown status &#39;sleeping&#39;"),
        ("status", {"status": "closed"}, 422, "resolve the incident before closing it"),
        ("severity", {"severity": "SEV7"}, 422, "unknown severity &#39;SEV7&#39;"),
    ],
)
def test_input_the_services_refuse_is_shown_on_the_page_and_changes_nothing(
    api: TestClient,
    tokens: dict[str, str],
    login: Login,
    runtime: Runtime,
    action: str,
    data: dict[str, str],
    status: int,
    message: str,
) -> None:
    incident = declared(api, tokens)
    console = login("responder")
    token = csrf(console, f"/incidents/{incident}")
    before = snapshot(runtime)
    answer = console.post(f"/incidents/{incident}/{action}", data={"csrf": token, **data})
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert re.search(r'class="message error" role="alert">[^<]*' + re.escape(message), answer.text), (
        answer.text
    )
    assert "Incident 1: API errors" in answer.text  # the page again, with the form
    assert snapshot(runtime) == before


def test_what_was_typed_is_kept_when_an_update_is_refused(
    api: TestClient, tokens: dict[str, str], login: Login
) -> None:
    incident = declared(api, tokens)
    console = login("responder")
    data = {"csrf": csrf(console), "text": "Long careful words", "public": "true", "status": "nope"}
    answer = console.post(f"/incidents/{incident}/updates", data=data)
    assert answer.status_code == 422
    assert ">Long careful words</textarea>" in answer.text
    assert re.search(r'id="update-public" name="public" value="true" checked', answer.text)


def test_a_closed_incident_refuses_changes_with_a_conflict(
    api: TestClient, tokens: dict[str, str], login: Login, runtime: Runtime
) -> None:
    incident = declared(api, tokens)
    for status in ("resolved", "closed"):
        api.post(
            f"/api/v1/incidents/{incident}/status", json={"status": status}, headers=auth(tokens, "responder")
        )
    console = login("responder")
    page = console.get(f"/incidents/{incident}").text
    assert "Assign role" not in page and "Post a status update" not in page  # nothing to do
    before = snapshot(runtime)
    data = {"csrf": csrf(console), "role": "scribe", "user": "carol"}
    answer = console.post(f"/incidents/{incident}/roles", data=data)
    assert answer.status_code == 409 and "a closed incident does not change" in answer.text
    assert answer.headers["content-type"].startswith("text/html")  # the page, not the API's JSON
    answer = console.post(f"/incidents/{incident}/updates", data={"csrf": data["csrf"], "text": "late"})
    assert answer.status_code == 409 and "takes no more status updates" in answer.text
    assert snapshot(runtime) == before


def test_a_refused_declaration_keeps_the_form_and_declares_nothing(
    tokens: dict[str, str], login: Login, runtime: Runtime
) -> None:
    console = login("responder")
    before = snapshot(runtime)
    data = {"csrf": csrf(console), "title": "Search slow", "severity": "SEV1", "services": "api, nope"}
    answer = console.post("/incidents", data=data)
    assert answer.status_code == 422 and "no service &#39;nope&#39;" in answer.text
    assert 'value="Search slow"' in answer.text and 'value="api, nope"' in answer.text
    answer = console.post("/incidents", data={**data, "title": " ", "services": ""})
    assert answer.status_code == 422 and "title must not be empty" in answer.text
    many = ", ".join(["api"] * 51)
    answer = console.post("/incidents", data={**data, "services": many})
    assert answer.status_code == 422 and "at most 50 services, not 51" in answer.text
    assert snapshot(runtime) == before


def test_an_unknown_incident_is_404(login: Login) -> None:
    console = login("responder")
    assert console.get("/incidents/999").status_code == 404
    assert (
        console.post("/incidents/999/updates", data={"csrf": csrf(console), "text": "x"}).status_code == 404
    )
    assert console.get("/incidents/0").status_code == 422


def test_the_next_update_due_and_missing_roles_are_shown(
    api: TestClient, tokens: dict[str, str], login: Login
) -> None:
    incident = declared(api, tokens, severity="SEV1", customer_impact=True)
    words = text_of(login("viewer").get(f"/incidents/{incident}").text)
    due = NOW + timedelta(minutes=30)
    assert f"Next update due {due:%Y-%m-%d %H:%M} UTC" in words
    assert "Missing roles incident commander, scribe" in words


def test_the_recent_closed_incidents_are_shown_past_many_open_ones(
    api: TestClient, tokens: dict[str, str], login: Login
) -> None:
    old = declared(api, tokens, title="Old outage")
    api.post(
        f"/api/v1/incidents/{old}/status", json={"status": "resolved"}, headers=auth(tokens, "responder")
    )
    for number in range(50):
        declared(api, tokens, title=f"Open {number}")
    viewer = login("viewer")
    assert "Old outage" in viewer.get("/incidents?status=closed").text
    listed = text_of(viewer.get("/incidents").text)
    assert listed.index("Open 49") < listed.index("Open 0") < listed.index("Old outage")
