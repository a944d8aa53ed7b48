"""/api/v1/webhooks and `pager webhook`: admin only, the secret shown once, bad input refused with
nothing stored (docs/integrations.md)."""

from __future__ import annotations

import json

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pager.commands import webhooks as webhook_commands
from pager.db.session import session_scope
from pager.services.integrations.webhooks import list_webhooks
from pager.services.runtime import Runtime
from tests.api import test_rest
from tests.api.test_rest import auth

pytestmark = pytest.mark.database

# The REST tests' fixtures: a runtime with alice, bob and carol, a token per role, a test client.
runtime = test_rest.runtime
tokens = test_rest.tokens
client = test_rest.client


def stored(runtime: Runtime) -> int:
    with session_scope(runtime.engine, read_only=True) as session:
        return len(list_webhooks(session))


def test_admins_add_list_resume_and_remove_webhooks(
    client: TestClient, tokens: dict[str, str], runtime: Runtime
) -> None:
    body = {"url": "https://hooks.example.com/a", "events": ["incident.declared"], "format": "mattermost"}
    assert client.post("/api/v1/webhooks", json=body, headers=auth(tokens, "responder")).status_code == 403
    created = client.post("/api/v1/webhooks", json=body, headers=auth(tokens, "admin"))
    assert created.status_code == 201, created.text
    document = created.json()
    assert set(document) == {"id", "url", "events", "format", "secret"}
    assert document["secret"].startswith("whsec_")
    listed = client.get("/api/v1/webhooks", headers=auth(tokens, "admin"))
    assert listed.status_code == 200 and document["secret"] not in listed.text
    (row,) = listed.json()["items"]
    assert row["state"] == "active" and row["format"] == "mattermost"
    resumed = client.post(f"/api/v1/webhooks/{document['id']}/resume", headers=auth(tokens, "admin"))
    assert resumed.status_code == 200
    assert (
        client.delete(f"/api/v1/webhooks/{document['id']}", headers=auth(tokens, "admin")).status_code == 204
    )
    assert (
        client.delete(f"/api/v1/webhooks/{document['id']}", headers=auth(tokens, "admin")).status_code == 404
    )
    assert stored(runtime) == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"url": "ftp://x.example", "events": ["incident.declared"]}, "http:// or https://"),
        ({"url": "https://x.example", "events": ["incident.updated"]}, "unknown event incident.updated"),
        ({"url": "https://x.example", "events": ["alert.resolved"], "format": "teams"}, "unknown format"),
    ],
)
def test_bad_webhooks_are_refused_and_nothing_is_stored(
    client: TestClient, tokens: dict[str, str], runtime: Runtime, body: dict[str, object], words: str
) -> None:
    answer = client.post("/api/v1/webhooks", json=body, headers=auth(tokens, "admin"))
    assert answer.status_code == 422 and words in answer.text
    assert stored(runtime) == 0


def test_the_cli_prints_the_secret_once_and_never_lists_it(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test root."""

    webhook_commands.register(app)
    monkeypatch.setenv("PAGER_DATABASE_URL", str(runtime.engine.url.render_as_string(hide_password=False)))
    runner = CliRunner()
    added = runner.invoke(
        app,
        ["webhook", "add", "https://h.example/x", "--events", "alert.triggered,incident.declared", "--json"],
    )
    assert added.exit_code == 0, added.output
    document = json.loads(added.stdout)
    assert set(document) == {"id", "url", "events", "format", "secret"}
    assert document["events"] == ["alert.triggered", "incident.declared"] and document["format"] == "standard"
    listed = runner.invoke(app, ["webhook", "list"])
    assert "active" in listed.stdout and document["secret"] not in listed.stdout
    bad = runner.invoke(app, ["webhook", "add", "https://h.example/x", "--events", "alert.nope"])
    assert bad.exit_code == 1 and "unknown event alert.nope" in bad.stderr
    assert runner.invoke(app, ["webhook", "resume", "999"]).exit_code == 1
    assert runner.invoke(app, ["webhook", "remove", str(document["id"])]).exit_code == 0
    assert stored(runtime) == 0
