"""A real `pager serve` process for the HTTP end-to-end tests, with the fake Twilio server and an SMTP sink.

The database is migrated by `pager db upgrade` (tests/e2e/conftest.py's `e2e_database_url`); the
service's integration key comes from `pager service list --json` and the admin token from
`pager token create --role admin --json`, as an operator would get them. The config directory holds
one schedule (ann is always primary) and a one-level policy that waits ten minutes before repeating,
so nothing else is paged while a test runs. Ann's stored notification rules page her by SMS, voice
and email at once (the defaults would call only after a minute).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from twilio.request_validator import RequestValidator

from pager.db.session import create_db_engine, session_scope
from pager.db.tables import Alert
from pager.db.users import add_notification_rule, contact_methods_of
from pager.services.people.users import add_user
from pager.testing.smtp_sink import SmtpSink
from tests.e2e.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    FakeTwilioProcess,
    clean_environment,
    open_files_limit,
    pager_command,
    stop_process,
    wait_until,
)

SERVICE = "checkout-api"
SECRET_KEY = "e2e-secret-key-" + "s" * 24
PRIMARY = {
    "handle": "ann",
    "name": "Ann Primary",
    "sms": "+15555550101",
    "voice": "+15555550111",
    "email": "ann@example.com",
}
BYSTANDER = {"handle": "bob", "name": "Bob Bystander", "sms": "+15555550102"}

SCHEDULE = """name: Team
time_zone: UTC
layers:
  - name: weekly
    members: [ann]
    start: 2026-01-05T09:00
    shift: 1w
"""
POLICY = """name: Checkout
levels:
  - notify: [schedule:team]
    escalate_after: 10m
services:
  - {id: checkout-api, name: Checkout API}
"""


def write_config(root: Path) -> Path:
    """A config directory with schedule `team` and policy `checkout` for service checkout-api."""
    (root / "schedules").mkdir(parents=True)
    (root / "escalation_policies").mkdir()
    (root / "schedules" / "team.yaml").write_text(SCHEDULE, encoding="utf-8")
    (root / "escalation_policies" / "checkout.yaml").write_text(POLICY, encoding="utf-8")
    return root


def free_port() -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    """Run `pager <args>`; its stdout (AssertionError with stderr when it fails)."""
    done = subprocess.run(pager_command(*args), env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"pager {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def add_people(engine: Engine) -> None:
    """Ann (on call; SMS, voice and email all at once) and Bob (registered, never paged)."""
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        ann = add_user(
            session,
            handle=PRIMARY["handle"],
            name=PRIMARY["name"],
            now=now,
            sms=PRIMARY["sms"],
            voice=PRIMARY["voice"],
            email=PRIMARY["email"],
        )
        assert ann.id is not None
        for position, method in enumerate(contact_methods_of(session, ann.id)):
            assert method.id is not None
            add_notification_rule(
                session,
                user_id=ann.id,
                contact_method_id=method.id,
                delay_seconds=0,
                now=now,
                position=position,
            )
        add_user(session, handle=BYSTANDER["handle"], name=BYSTANDER["name"], now=now, sms=BYSTANDER["sms"])


@dataclass
class Server:
    """A running `pager serve` and what a test needs to drive it and check its database."""

    url: str
    token: str
    integration_key: str
    engine: Engine
    twilio: FakeTwilioProcess
    smtp: SmtpSink
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request to the server with the admin token."""
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kwargs)

    def trigger(self, dedup_key: str, summary: str, *, source: str, timeout: float = 10) -> httpx.Response:
        """A PagerDuty Events v2 trigger for the service (no token: the routing key is the auth)."""
        event = {
            "routing_key": self.integration_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {"summary": summary, "source": source, "severity": "critical"},
        }
        return httpx.post(f"{self.url}/v2/enqueue", json=event, timeout=timeout)

    def alert_status(self, alert_id: int) -> str:
        """The alert's status as the REST API reports it."""
        response = self.api("GET", f"/api/v1/alerts/{alert_id}")
        assert response.status_code == 200, response.text
        status: str = response.json()["status"]
        return status

    def stored_alert(self, alert_id: int) -> Alert:
        """The alert row itself, read from the database."""
        with session_scope(self.engine, read_only=True) as session:
            alert = session.get(Alert, alert_id)
            assert alert is not None
            session.expunge(alert)
            return alert

    def only_alert_id(self) -> int:
        """The id of the one alert in the database (AssertionError if there are more or none)."""
        response = self.api("GET", "/api/v1/alerts")
        assert response.status_code == 200, response.text
        ids = [item["id"] for item in response.json()["items"]]
        assert len(ids) == 1, ids
        return int(ids[0])

    def twilio_creates(self, collection: str, to: str) -> list[dict[str, str]]:
        """Forms of the `Messages`/`Calls` creates the fake Twilio received for `to`, oldest first."""
        return [
            r["form"]
            for r in self.twilio.requests()
            if r["method"] == "POST"
            and r["path"].endswith(f"/{collection}.json")
            and r["form"].get("To") == to
        ]

    def wait_for_sms(self, to: str, timeout: float = 5.0) -> dict[str, str]:
        """The first SMS create addressed to `to`."""
        return wait_until(
            f"an SMS to {to}", lambda: next(iter(self.twilio_creates("Messages", to)), None), timeout
        )

    def wait_for_call(self, to: str, timeout: float = 5.0) -> dict[str, str]:
        """The first call create addressed to `to`."""
        return wait_until(
            f"a call to {to}", lambda: next(iter(self.twilio_creates("Calls", to)), None), timeout
        )


def twilio_signature(url: str, params: dict[str, str], auth_token: str = AUTH_TOKEN) -> str:
    """The X-Twilio-Signature Twilio would send with `params` posted to `url`."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


def signed_post(
    url: str, params: dict[str, str], auth_token: str = AUTH_TOKEN, *, signature: str | None = None
) -> httpx.Response:
    """POST a Twilio-style form to `url`, signed with `auth_token` unless `signature` is given ("" = none)."""
    if signature is None:
        signature = twilio_signature(url, params, auth_token)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature:
        headers["X-Twilio-Signature"] = signature
    return httpx.post(url, content=urllib.parse.urlencode(params), headers=headers, timeout=10)


def twiml_text(response: httpx.Response) -> str:
    """The spoken or texted words of a TwiML reply."""
    return " ".join(re.findall(r"<(?:Message|Say)>([^<]*)</", response.text))


@contextmanager
def running_server(
    database_url: str, tmp_path: Path, *, add_users: bool = True, open_files: int | None = None
) -> Iterator[Server]:
    """Start the fakes and `pager serve` on a migrated database; everything is stopped on exit.

    `add_users=False` serves a database a previous `running_server` already set up (a restart);
    `open_files` lowers the server's descriptor limit (RLIMIT_NOFILE) to that many."""
    config_dir = tmp_path / "config"
    if not config_dir.exists():
        write_config(config_dir)
    engine = create_db_engine(database_url)
    if add_users:
        add_people(engine)
    cli_env = clean_environment(PAGER_DATABASE_URL=database_url, PAGER_CONFIG_DIR=str(config_dir))
    services = json.loads(run_cli(cli_env, tmp_path, "service", "list", "--json"))
    key = next(s["integration_key"] for s in services if s["id"] == SERVICE)
    token = json.loads(run_cli(cli_env, tmp_path, "token", "create", "--role", "admin", "--json"))["token"]

    twilio = FakeTwilioProcess(tmp_path / "fake-twilio.log")
    smtp = SmtpSink()
    process: subprocess.Popen[bytes] | None = None
    try:
        smtp.start()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = cli_env | {
            "PAGER_PUBLIC_URL": url,
            "PAGER_SECRET_KEY": SECRET_KEY,
            "PAGER_TWILIO_API_BASE": twilio.url,
            "PAGER_SMTP_URL": smtp.url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
        }
        log_path = tmp_path / "pager-serve.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                pager_command("serve", "--host", "127.0.0.1", "--port", str(port)),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=tmp_path,
                preexec_fn=open_files_limit(open_files),
            )
        server = Server(url, token, key, engine, twilio, smtp, process, log_path)
        wait_until("pager serve to be ready", lambda: _ready(server), timeout=30)
        yield server
    finally:
        if process is not None:
            stop_process(process)
        twilio.stop()
        smtp.stop()
        engine.dispose()


def _ready(server: Server) -> bool:
    if server.process.poll() is not None:
        raise AssertionError(f"pager serve exited with {server.process.returncode}:\n{server.log()}")
    try:
        return httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
