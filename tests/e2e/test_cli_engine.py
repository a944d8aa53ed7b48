"""The engine's commands as users run them: users, services, overrides, simulate, alerts.

Each database test gets its own database (SQLite in tmp_path, or a fresh Postgres schema when
PAGER_TEST_DATABASE_URL is set) and runs `pager db upgrade` on it first, as a user would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text
from typer.testing import CliRunner

from pager.cli import app
from pager.db.session import create_db_engine, database_url

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SHIPPED_POLICIES = sorted(p.stem for p in (REPO / "escalation_policies").glob("*.yaml"))
TEST_DATABASE_ENV = "PAGER_TEST_DATABASE_URL"
runner = CliRunner()

# A two-person daily rotation in UTC: ann holds even days from 2026-01-05 09:00, ben odd ones;
# 2026-03-08 09:00 is day 62, so ann is primary and ben (the next member) secondary.
TEAM = """name: Team
time_zone: UTC
layers:
  - name: daily
    members: [ann, ben]
    start: 2026-01-05T09:00
    shift: 1d
"""
# Nobody outside 22:00-06:00 UTC: a policy level on it is skipped during the day.
NIGHTS = """name: Nights
time_zone: UTC
layers:
  - name: desk
    members: [dan]
    start: 2026-01-05T22:00
    shift: 1d
    restrictions:
      - {days: [mon, tue, wed, thu, fri, sat, sun], from: "22:00", to: "06:00"}
"""
SMALL_POLICY = """name: Small
repeat: 1
ack_timeout: 0
levels:
  - notify: [schedule:team]
    escalate_after: 5m
  - notify: [schedule:nights]
    escalate_after: 5m
  - notify: [schedule:team/secondary, user:cat]
    escalate_after: 10m
services:
  - {id: web, name: Web shop, runbook: https://wiki.example.com/web}
  - {id: api, name: Public API}
"""
AT = "2026-03-08T09:00:00+00:00"


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: PAGER_TEST_DATABASE_URL's Postgres (a new schema), else SQLite."""
    configured = os.environ.get(TEST_DATABASE_ENV)
    if not configured or database_url(configured).get_backend_name() != "postgresql":
        yield f"sqlite:///{tmp_path / 'p.db'}"
        return
    base = database_url(configured)
    schema = f"cli_{uuid.uuid4().hex[:16]}"
    admin = create_db_engine(base)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A small config: schedules team and nights, policy small with services web and api."""
    folder = tmp_path / "config"
    (folder / "schedules").mkdir(parents=True)
    (folder / "escalation_policies").mkdir()
    (folder / "schedules" / "team.yaml").write_text(TEAM, encoding="utf-8")
    (folder / "schedules" / "nights.yaml").write_text(NIGHTS, encoding="utf-8")
    (folder / "escalation_policies" / "small.yaml").write_text(SMALL_POLICY, encoding="utf-8")
    return folder


class Pager:
    """Runs `pager --config-dir DIR ...` in-process against one database URL."""

    def __init__(self, url: str, config: Path) -> None:
        self.url, self.config = url, config

    def __call__(self, *args: str) -> tuple[int, str, str]:
        env = {"PAGER_DATABASE_URL": self.url, "PAGER_CONFIG_DIR": None}
        result = runner.invoke(app, ["--config-dir", str(self.config), *args], env=env)
        return result.exit_code, result.stdout, result.stderr

    def ok(self, *args: str) -> str:
        code, out, err = self(*args)
        assert code == 0, (args, out, err)
        return out

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def error(self, *args: str) -> str:
        """Run a command that must fail: exit 1, nothing on stdout, one `error: ...` on stderr."""
        code, out, err = self(*args)
        assert (code, out) == (1, ""), (args, code, out, err)
        assert err.startswith("error: ") or "\nerror: " in err, err
        return err


@pytest.fixture
def pager(db_url: str, config_dir: Path) -> Pager:
    """The CLI on a migrated database (`pager db upgrade` already run) and the small config."""
    cli = Pager(db_url, config_dir)
    assert "schema at revision" in cli.ok("db", "upgrade")
    return cli


@pytest.fixture
def no_database(tmp_path: Path, config_dir: Path) -> Pager:
    """The CLI with PAGER_DATABASE_URL naming a SQLite file that does not exist."""
    return Pager(f"sqlite:///{tmp_path / 'absent.db'}", config_dir)


def add_team(pager: Pager) -> None:
    for handle, name, number in (("ann", "Ann A", "+15555550101"), ("ben", "Ben B", "+15555550102")):
        pager.ok("user", "add", handle, "--name", name, "--sms", number, "--email", f"{handle}@example.com")
    pager.ok("user", "add", "cat", "--name", "Cat C", "--voice", "+442071838750")


# -- users ---------------------------------------------------------------------------------------------


@pytest.mark.database
def test_user_add_and_list(pager: Pager) -> None:
    out = pager.ok(
        "user", "add", "ann", "--name", "Ann A", "--sms", "+15555550101", "--email", "ann@example.com"
    )
    assert out.strip() == "added user ann (Ann A): sms +15555550101, email ann@example.com"
    pager.ok("user", "add", "ben", "--name", "Ben B", "--voice", "+442071838750")
    assert pager.json("user", "list") == [
        {
            "handle": "ann",
            "name": "Ann A",
            "status": "active",
            "time_zone": None,
            "remind_before": None,
            "contact_methods": [
                {"kind": "sms", "address": "+15555550101", "verified": True},
                {"kind": "email", "address": "ann@example.com", "verified": True},
            ],
        },
        {
            "handle": "ben",
            "name": "Ben B",
            "status": "active",
            "time_zone": None,
            "remind_before": None,
            "contact_methods": [{"kind": "voice", "address": "+442071838750", "verified": True}],
        },
    ]
    table = pager.ok("user", "list").splitlines()
    assert table[0].split() == ["HANDLE", "NAME", "STATUS", "SMS", "VOICE", "EMAIL"]
    assert table[1].split() == ["ann", "Ann", "A", "active", "+15555550101", "-", "ann@example.com"]
    assert table[2].split() == ["ben", "Ben", "B", "active", "-", "+442071838750", "-"]


@pytest.mark.database
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sms", "5555550101"], "error: sms number '5555550101' is not E.164"),
        (["--voice", "+0123456789"], "error: voice number '+0123456789' is not E.164"),
        (["--email", "ann.example.com"], "error: email address 'ann.example.com' is not valid"),
    ],
)
def test_user_add_refuses_bad_addresses(pager: Pager, args: list[str], message: str) -> None:
    err = pager.error("user", "add", "ann", "--name", "Ann", *args)
    assert err.startswith(message), err
    assert pager.json("user", "list") == []


@pytest.mark.database
def test_user_add_refuses_a_taken_handle_and_a_bad_one(pager: Pager) -> None:
    pager.ok("user", "add", "ann", "--name", "Ann")
    assert pager.error("user", "add", "ann", "--name", "Other").strip() == "error: user 'ann' already exists"
    assert "handle 'Ann Smith'" in pager.error("user", "add", "Ann Smith", "--name", "Ann")
    assert [u["handle"] for u in pager.json("user", "list")] == ["ann"]


def test_database_commands_ask_for_db_upgrade_and_create_nothing(no_database: Pager, tmp_path: Path) -> None:
    for args in (["user", "list"], ["service", "list"], ["alert", "list"], ["override", "list"]):
        err = no_database.error(*args)
        assert "run `pager db upgrade` first" in err
    assert not (tmp_path / "absent.db").exists()


# -- services ------------------------------------------------------------------------------------------


@pytest.mark.database
def test_service_list_json_has_the_documented_shape_and_stable_keys(pager: Pager) -> None:
    services = pager.json("service", "list")
    assert [s["id"] for s in services] == ["api", "web"]
    for service in services:
        assert list(service) == ["id", "name", "policy", "integration_key"]
        assert service["policy"] == "small"
        assert re.fullmatch(r"[0-9a-f]{32}", service["integration_key"])
    assert [s["name"] for s in services] == ["Public API", "Web shop"]
    assert services[0]["integration_key"] != services[1]["integration_key"]
    # Keys are generated once and kept in the database.
    assert pager.json("service", "list") == services
    table = pager.ok("service", "list").splitlines()
    assert table[0].split() == ["ID", "NAME", "POLICY", "INTEGRATION", "KEY"]
    assert table[2].split() == ["web", "Web", "shop", "small", services[1]["integration_key"]]


@pytest.mark.database
def test_service_list_of_the_shipped_config(db_url: str) -> None:
    pager = Pager(db_url, REPO)
    pager.ok("db", "upgrade")
    declared = {
        service["id"]: (service["name"], path.stem)
        for path in (REPO / "escalation_policies").glob("*.yaml")
        for service in yaml.safe_load(path.read_text(encoding="utf-8"))["services"]
    }
    services = pager.json("service", "list")
    assert {s["id"]: (s["name"], s["policy"]) for s in services} == declared
    assert [s["id"] for s in services] == sorted(declared)


# -- overrides -----------------------------------------------------------------------------------------


@pytest.mark.database
def test_override_changes_oncall_shifts_and_coverage_until_deleted(pager: Pager) -> None:
    add_team(pager)
    before = pager.json("oncall", "team", "--at", AT)
    assert before == {"schedule": "team", "at": AT, "primary": "ann", "secondary": "ben"}

    out = pager.ok(
        "override", "add", "team", "--role", "primary", "--user", "cat",
        "--from", "2026-03-08T08:00:00Z", "--to", "2026-03-08T12:00:00+01:00",
    )  # fmt: skip
    assert out.strip() == (
        "override 1: cat is primary of team from 2026-03-08T08:00:00+00:00 to 2026-03-08T11:00:00+00:00"
    )
    assert pager.json("oncall", "team", "--at", AT) == {**before, "primary": "cat"}
    # The override is half-open: at its end the rotation decides again.
    after = pager.json("oncall", "team", "--at", "2026-03-08T11:00:00Z")
    assert after["primary"] == "ann"
    shifts = pager.json("shifts", "team", "--from", "2026-03-08T07:00:00Z", "--to", "2026-03-08T13:00:00Z")
    primary = [(s["user"], s["start"], s["end"]) for s in shifts if s["role"] == "primary"]
    assert primary == [
        ("ben", "2026-03-08T07:00:00+00:00", "2026-03-08T08:00:00+00:00"),
        ("cat", "2026-03-08T08:00:00+00:00", "2026-03-08T11:00:00+00:00"),
        ("ann", "2026-03-08T11:00:00+00:00", "2026-03-08T13:00:00+00:00"),
    ]
    coverage = pager.json("coverage", "team", "--from", "2026-03-08T00:00:00Z", "--days", "1")
    people = {p["user"]: p["seconds"] for p in coverage["load"]["primary"]["people"]}
    assert people["cat"] == 3 * 3600

    assert pager.json("override", "list") == [
        {
            "id": 1,
            "schedule": "team",
            "kind": "add",
            "role": "primary",
            "user": "cat",
            "instead_of": None,
            "start": "2026-03-08T08:00:00+00:00",
            "end": "2026-03-08T11:00:00+00:00",
        }
    ]
    assert pager.ok("override", "delete", "1").strip() == "deleted override 1"
    assert pager.json("oncall", "team", "--at", AT) == before
    assert pager.error("override", "delete", "1").strip() == "error: no override 1"


@pytest.mark.database
def test_secondary_override(pager: Pager) -> None:
    add_team(pager)
    pager.ok(
        "override", "add", "team", "--role", "secondary", "--user", "cat",
        "--from", "2026-03-08T08:00:00Z", "--to", "2026-03-08T10:00:00Z",
    )  # fmt: skip
    assert pager.json("oncall", "team", "--at", AT) == {
        "schedule": "team",
        "at": AT,
        "primary": "ann",
        "secondary": "cat",
    }


@pytest.mark.database
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["team", "--user", "ann", "--from", "2026-03-08T12:00:00Z", "--to", "2026-03-08T08:00:00Z"],
            "error: override must end after it starts",
        ),
        (
            ["team", "--user", "ann", "--from", "2026-03-08T08:00:00Z", "--to", "2026-03-08T08:00:00Z"],
            "error: override must end after it starts",
        ),
        (
            ["team", "--user", "zed", "--from", "2026-03-08T08:00:00Z", "--to", "2026-03-08T12:00:00Z"],
            "error: no user 'zed'",
        ),
        (
            ["nope", "--user", "ann", "--from", "2026-03-08T08:00:00Z", "--to", "2026-03-08T12:00:00Z"],
            "error: no schedule 'nope'",
        ),
        (
            [
                "team",
                "--user",
                "ann",
                "--role",
                "boss",
                "--from",
                "2026-03-08T08:00Z",
                "--to",
                "2026-03-08T12:00Z",
            ],
            "error: role must be primary or secondary",
        ),
        (
            ["team", "--user", "ann", "--from", "2026-03-08T08:00:00", "--to", "2026-03-08T12:00:00Z"],
            "error: --from: '2026-03-08T08:00:00' has no UTC offset",
        ),
        (
            ["team", "--user", "ann", "--from", "2026-03-08T08:00:00Z", "--to", "tomorrow"],
            "error: --to: 'tomorrow' is not an ISO 8601 instant",
        ),
    ],
)
def test_override_add_refuses(pager: Pager, args: list[str], message: str) -> None:
    add_team(pager)
    err = pager.error("override", "add", *args)
    assert err.startswith(message), err
    assert pager.json("override", "list") == []
    assert pager.json("oncall", "team", "--at", AT)["primary"] == "ann"


def test_oncall_without_a_database_works_without_overrides(no_database: Pager, tmp_path: Path) -> None:
    assert no_database.json("oncall", "team", "--at", AT)["primary"] == "ann"
    shifts = no_database.json("shifts", "team", "--from", AT, "--to", "2026-03-09T09:00:00Z")
    assert [s["user"] for s in shifts] == ["ann", "ben"]
    assert no_database.json("coverage", "team", "--from", AT, "--days", "1")["gaps"] == []
    assert not (tmp_path / "absent.db").exists()


@pytest.mark.database
def test_oncall_with_an_unmigrated_database_works_without_overrides(db_url: str, config_dir: Path) -> None:
    pager = Pager(db_url, config_dir)
    assert pager.json("oncall", "team", "--at", AT)["primary"] == "ann"


# -- simulate ------------------------------------------------------------------------------------------


def test_simulate_json_of_a_small_policy(no_database: Pager, tmp_path: Path) -> None:
    assert no_database.json("simulate", "small", "--at", "2026-03-08T10:00:00+01:00") == {
        "policy": "small",
        "from": AT,
        "steps": [
            {"at": "2026-03-08T09:00:00+00:00", "loop": 1, "level": 1, "notify": ["ann"]},
            {"at": "2026-03-08T09:05:00+00:00", "loop": 1, "level": 2, "notify": []},
            {"at": "2026-03-08T09:05:00+00:00", "loop": 1, "level": 3, "notify": ["ben", "cat"]},
            {"at": "2026-03-08T09:15:00+00:00", "loop": 2, "level": 1, "notify": ["ann"]},
            {"at": "2026-03-08T09:20:00+00:00", "loop": 2, "level": 2, "notify": []},
            {"at": "2026-03-08T09:20:00+00:00", "loop": 2, "level": 3, "notify": ["ben", "cat"]},
        ],
        "exhausted_at": "2026-03-08T09:30:00+00:00",
    }
    assert not (tmp_path / "absent.db").exists()


def test_simulate_follows_handoffs_while_the_ladder_runs(no_database: Pager) -> None:
    # Triggered 5 minutes before the 09:00 handoff: ben is paged first, ann on the second loop.
    document = no_database.json("simulate", "small", "--at", "2026-03-08T08:55:00Z")
    first_levels = [(s["at"], s["notify"]) for s in document["steps"] if s["level"] == 1]
    assert first_levels == [("2026-03-08T08:55:00+00:00", ["ben"]), ("2026-03-08T09:10:00+00:00", ["ann"])]


def test_simulate_text_shows_methods_skips_and_exhaustion(no_database: Pager) -> None:
    lines = no_database.ok("simulate", "small", "--at", AT).splitlines()
    assert lines == [
        f"policy small: alert triggered at {AT}, nobody acks",
        f"{AT}  loop 1 level 1: ann (sms +0s, voice +1m, email +0s)",
        "2026-03-08T09:05:00+00:00  loop 1 level 2: no one on call, skipped",
        "2026-03-08T09:05:00+00:00  loop 1 level 3: ben (sms +0s, voice +1m, email +0s); "
        "cat (sms +0s, voice +1m, email +0s)",
        "2026-03-08T09:15:00+00:00  loop 2 level 1: ann (sms +0s, voice +1m, email +0s)",
        "2026-03-08T09:20:00+00:00  loop 2 level 2: no one on call, skipped",
        "2026-03-08T09:20:00+00:00  loop 2 level 3: ben (sms +0s, voice +1m, email +0s); "
        "cat (sms +0s, voice +1m, email +0s)",
        "2026-03-08T09:30:00+00:00  escalation exhausted after 2 loop(s); alert stays triggered",
    ]


@pytest.mark.database
def test_simulate_uses_database_overrides_and_users_methods(pager: Pager) -> None:
    add_team(pager)
    pager.ok(
        "override",
        "add",
        "team",
        "--user",
        "cat",
        "--from",
        "2026-03-08T09:10:00Z",
        "--to",
        "2026-03-08T10:00:00Z",
    )
    document = pager.json("simulate", "small", "--at", AT)
    first_levels = [s["notify"] for s in document["steps"] if s["level"] == 1]
    assert first_levels == [["ann"], ["cat"]]
    lines = pager.ok("simulate", "small", "--at", AT).splitlines()
    # ann has sms and email, cat only voice: the defaults over the methods they have put the first
    # at once and the next a minute later, so voice-only cat is called at once.
    assert lines[1] == f"{AT}  loop 1 level 1: ann (sms +0s, email +1m)"
    assert lines[4] == "2026-03-08T09:15:00+00:00  loop 2 level 1: cat (voice +0s)"


@pytest.mark.database
def test_simulate_warns_about_handles_that_are_not_users(pager: Pager) -> None:
    pager.ok("user", "add", "ann", "--name", "Ann", "--sms", "+15555550101")
    out = pager.ok("simulate", "small", "--at", AT)
    assert out.splitlines()[-1] == "warning: ben, cat: no such user in the database, so they cannot be paged"
    assert "warning" not in pager.ok("simulate", "small", "--at", AT, "--json")


@pytest.mark.parametrize("policy_id", SHIPPED_POLICIES)
def test_simulate_every_shipped_policy(policy_id: str, tmp_path: Path) -> None:
    shipped = Pager(f"sqlite:///{tmp_path / 'absent.db'}", REPO)
    spec = yaml.safe_load((REPO / "escalation_policies" / f"{policy_id}.yaml").read_text(encoding="utf-8"))
    levels, loops = len(spec["levels"]), spec["repeat"] + 1
    at = "2026-03-10T15:00:00+00:00"  # a Tuesday: every shipped schedule has someone on call
    document = shipped.json("simulate", policy_id, "--at", at)
    assert (document["policy"], document["from"]) == (policy_id, at)
    steps = document["steps"]
    assert steps and all(isinstance(s["notify"], list) for s in steps)
    assert [(s["loop"], s["level"]) for s in steps] == [
        (loop, level) for loop in range(1, loops + 1) for level in range(1, levels + 1)
    ]
    assert steps[0]["at"] == at and steps[0]["notify"]
    times = [s["at"] for s in steps]
    assert times == sorted(times)
    assert document["exhausted_at"] is not None and document["exhausted_at"] > times[-1]


def test_simulate_refuses_naive_instants_and_unknown_policies(no_database: Pager) -> None:
    err = no_database.error("simulate", "small", "--at", "2026-03-08T09:00:00")
    assert err.startswith("error: --at: '2026-03-08T09:00:00' has no UTC offset")
    err = no_database.error("oncall", "team", "--at", "2026-03-08T09:00")
    assert err.startswith("error: --at: '2026-03-08T09:00' has no UTC offset")
    err = no_database.error("shifts", "team", "--from", "2026-03-08T09:00", "--to", "2026-03-09T09:00Z")
    assert err.startswith("error: --from: '2026-03-08T09:00' has no UTC offset")
    err = no_database.error("simulate", "nope", "--at", AT)
    assert err.strip() == "error: unknown policy 'nope' (known: small)"


def test_simulate_reports_an_invalid_policy_file(no_database: Pager, config_dir: Path) -> None:
    (config_dir / "escalation_policies" / "broken.yaml").write_text(
        "name: Broken\nlevels: []\n", encoding="utf-8"
    )
    err = no_database.error("simulate", "broken", "--at", AT)
    assert f"{config_dir / 'escalation_policies' / 'broken.yaml'}:" in err
    assert err.splitlines()[-1] == "error: policy 'broken' is invalid; run `pager check`"


# -- alerts --------------------------------------------------------------------------------------------


@pytest.mark.database
def test_alert_trigger_list_show_ack_resolve(pager: Pager) -> None:
    add_team(pager)
    out = pager.ok("alert", "trigger", "web", "--summary", "Checkout 5xx above 2%", "--dedup-key", "5xx")
    assert out.strip() == "alert 1 triggered on web (dedup key 5xx)"
    repeat = pager.json("alert", "trigger", "web", "--summary", "Checkout 5xx above 2%", "--dedup-key", "5xx")
    assert (repeat["id"], repeat["created"], repeat["dedup_key"]) == (1, False, "5xx")
    second = pager.json("alert", "trigger", "api", "--summary", "Latency", "--severity", "warning")
    assert (second["id"], second["created"]) == (2, True)
    assert re.fullmatch(r"[0-9a-f]{32}", second["dedup_key"])

    alerts = pager.json("alert", "list")
    assert [list(a) for a in alerts] == [
        ["id", "service", "status", "summary", "dedup_key", "created_at"]
    ] * 2
    assert [(a["id"], a["service"], a["status"], a["summary"]) for a in alerts] == [
        (2, "api", "triggered", "Latency"),
        (1, "web", "triggered", "Checkout 5xx above 2%"),
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", a["created_at"]) for a in alerts)

    shown = pager.ok("alert", "show", "1").splitlines()
    assert shown[0] == "alert 1 [triggered] web: Checkout 5xx above 2%"
    timeline = shown[shown.index("timeline:") + 1 :]
    messages = [line.split("  ", 2)[2] for line in timeline]
    assert messages[0] == "triggered"
    assert any(m.startswith("level 1 (loop 1) paged: ") and m.endswith(("ann", "ben")) for m in messages)
    assert "triggered again; deduplicated into this alert" in messages

    assert pager.ok("alert", "ack", "1", "--by", "ann").strip() == "alert 1 acknowledged"
    assert (
        pager.ok("alert", "ack", "1", "--by", "ben").strip()
        == "alert 1 was already acknowledged; nothing changed"
    )
    assert [a["status"] for a in pager.json("alert", "list", "--service", "web")] == ["acknowledged"]
    assert pager.ok("alert", "resolve", "1").strip() == "alert 1 resolved"
    assert pager.ok("alert", "escalate", "1").strip() == "alert 1 is already resolved; nothing changed"
    shown_json = pager.json("alert", "show", "1")
    assert (shown_json["status"], shown_json["resolved_by"]) == ("resolved", "cli")
    kinds = [entry["kind"] for entry in shown_json["timeline"]]
    assert "acknowledged" in kinds and "resolved" in kinds
    assert [a["id"] for a in pager.json("alert", "list", "--status", "resolved")] == [1]

    # Resolve is final: the same dedup key opens a new alert.
    reopened = pager.json("alert", "trigger", "web", "--summary", "Checkout 5xx again", "--dedup-key", "5xx")
    assert (reopened["id"], reopened["created"]) == (3, True)


@pytest.mark.database
def test_alert_escalate_pages_the_next_level_now(pager: Pager) -> None:
    add_team(pager)
    pager.ok("alert", "trigger", "web", "--summary", "Disk full")
    assert pager.ok("alert", "escalate", "1", "--by", "ann").strip() == "alert 1 escalated"
    shown = pager.ok("alert", "show", "1")
    assert "escalated by ann" in shown
    assert "level 2 (loop 1)" in shown  # the nights level: paged or skipped, at once


@pytest.mark.database
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["alert", "ack", "99"], "error: no alert 99"),
        (["alert", "show", "99"], "error: no alert 99"),
        (["alert", "trigger", "nope", "--summary", "x"], "error: no service 'nope'"),
        (["alert", "trigger", "web", "--summary", "   "], "error: summary must not be empty"),
        (
            ["alert", "trigger", "web", "--summary", "x", "--severity", "huge"],
            "error: --severity must be one of",
        ),
        (["alert", "list", "--status", "open"], "error: --status must be one of"),
    ],
)
def test_alert_errors(pager: Pager, args: list[str], message: str) -> None:
    assert pager.error(*args).startswith(message)


# -- real processes ------------------------------------------------------------------------------------


def pager_process(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, as a user's shell would start it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGER_")}
    env["PAGER_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-c", "from pager.cli import app; app()", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.database
def test_user_service_and_alert_in_real_processes(db_url: str, config_dir: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return pager_process(db_url, "--config-dir", str(config_dir), *args)

    assert run("db", "upgrade").returncode == 0
    bad = run("user", "add", "ann", "--name", "Ann", "--sms", "555-0101")
    assert (bad.returncode, bad.stdout) == (1, "")
    assert bad.stderr.startswith("error: sms number '555-0101' is not E.164")
    assert run("user", "add", "ann", "--name", "Ann", "--sms", "+15555550101").returncode == 0
    services = run("service", "list", "--json")
    assert services.returncode == 0, services.stderr
    assert [s["id"] for s in json.loads(services.stdout)] == ["api", "web"]
    triggered = run("alert", "trigger", "web", "--summary", "Down", "--json")
    assert triggered.returncode == 0, triggered.stderr
    assert json.loads(triggered.stdout)["created"] is True
    listed = run("alert", "list", "--json")
    assert [(a["id"], a["status"]) for a in json.loads(listed.stdout)] == [(1, "triggered")]


def test_simulate_in_a_real_process(tmp_path: Path) -> None:
    result = pager_process(
        f"sqlite:///{tmp_path / 'absent.db'}", "simulate", "checkout", "--at", AT, "--json"
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["policy"], document["from"]) == ("checkout", AT)
    assert document["steps"][0]["notify"]


@pytest.mark.database
def test_worker_pages_a_triggered_alert_and_stops_on_sigterm(
    db_url: str, config_dir: Path, tmp_path: Path
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return pager_process(db_url, "--config-dir", str(config_dir), *args)

    assert run("db", "upgrade").returncode == 0
    assert run("user", "add", "cat", "--name", "Cat", "--sms", "+15555550103").returncode == 0
    assert run("alert", "trigger", "web", "--summary", "Disk full").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGER_")}
    env["PAGER_DATABASE_URL"] = db_url
    env["PAGER_SECRET_KEY"] = "worker-test-secret-key-" + "x" * 16
    log_path = tmp_path / "worker.log"
    with log_path.open("w", encoding="utf-8") as log_file:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from pager.cli import app; app()",
                "--config-dir",
                str(config_dir),
                "worker",
            ],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            # Level 1 names ann or ben, who are not users; cat is on level 3. Two manual escalations
            # reach level 3 now whatever the hour (level 2, nights, is skipped by day, dan by night).
            assert run("alert", "escalate", "1").returncode == 0
            assert run("alert", "escalate", "1").returncode == 0
            expected = "page method=sms to=+15555550103 alert=1"
            deadline = time.monotonic() + 60
            while expected not in log_path.read_text(encoding="utf-8") and time.monotonic() < deadline:
                time.sleep(0.1)  # polling a real process's output, not waiting out a timer
            assert expected in log_path.read_text(encoding="utf-8")
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=30)
    assert code == 0
    assert "worker_stopped" in log_path.read_text(encoding="utf-8")
