"""A real `pager serve` keeps integration keys and tokens out of its access log (stderr).

Requests carry an integration key in the path (three integrations), a calendar token in the query
and an email-link token in the path; the server's output must show each route with `[redacted]`
in place of the secret, and none of the secrets.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import wait_until
from tests.e2e.server_process import PRIMARY, Server, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.database]


@pytest.fixture
def server(e2e_database_url: str, tmp_path: Path) -> Iterator[Server]:
    with running_server(e2e_database_url, tmp_path) as running:
        yield running


def test_access_log_shows_routes_with_their_secrets_redacted(server: Server) -> None:
    key = server.integration_key
    fired = httpx.post(
        f"{server.url}/integrations/generic/{key}",
        json={"status": "firing", "summary": "Disk full", "dedup_key": "disk"},
        timeout=10,
    )
    assert fired.status_code == 202, fired.text
    for kind in ("alertmanager", "grafana"):  # refused bodies are logged all the same
        httpx.post(f"{server.url}/integrations/{kind}/{key}", content=b"{}", timeout=10)

    created = server.api("POST", f"/api/v1/users/{PRIMARY['handle']}/calendar-tokens")
    assert created.status_code == 201, created.text
    calendar_token = created.json()["token"]
    feed = httpx.get(created.json()["url"], timeout=10)
    assert feed.status_code == 200, feed.text

    assert server.smtp.wait_for(1, timeout=10)
    body = server.smtp.messages[0].get_content()
    link = re.search(r"^Acknowledge: \S+/ack/(\S+)$", body, re.M)
    assert link is not None, body
    link_token = link.group(1)
    assert httpx.get(f"{server.url}/ack/{link_token}", timeout=10).status_code == 200

    expected = [
        '"POST /integrations/generic/[redacted] HTTP/1.1" 202',
        '"POST /integrations/alertmanager/[redacted] HTTP/1.1"',
        '"POST /integrations/grafana/[redacted] HTTP/1.1"',
        f'"GET /calendar/users/{PRIMARY["handle"]}.ics?token=[redacted] HTTP/1.1" 200',
        '"GET /ack/[redacted] HTTP/1.1" 200',
    ]
    try:
        wait_until("the access log lines", lambda: all(line in server.log() for line in expected), 10)
    except AssertionError:
        pytest.fail(f"expected {expected} in the server's output:\n{server.log()}")
    log = server.log()
    for secret in (key, calendar_token, calendar_token.removeprefix("pgc_"), link_token, server.token):
        assert secret not in log
