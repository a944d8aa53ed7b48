"""`pager user update/deactivate/reactivate/rules/test-page` as the real `pager` process runs them,
and what `oncall`, `simulate` and `check` say about a deactivated person.

test_cli_engine's small config (team: ann on even days from 2026-01-05 09:00 UTC, ben on odd ones;
policy small: team, nights, then team/secondary and user:cat) and a database of the test's own.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import test_cli_engine as engine_cli
from tests.e2e.conftest import clean_environment, pager_command
from tests.e2e.test_cli_engine import AT

db_url = engine_cli.db_url
config_dir = engine_cli.config_dir

pytestmark = [pytest.mark.e2e, pytest.mark.database]


class RealPager(engine_cli.Pager):
    """The CLI as a separate `pager` process."""

    def __call__(self, *args: str) -> tuple[int, str, str]:
        env = clean_environment(PAGER_DATABASE_URL=self.url)
        done = subprocess.run(
            pager_command("--config-dir", str(self.config), *args),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.returncode, done.stdout, done.stderr


@pytest.fixture
def pager(db_url: str, config_dir: Path) -> RealPager:
    cli = RealPager(db_url, config_dir)
    cli.ok("db", "upgrade")
    cli.ok("user", "add", "ann", "--name", "Ann A", "--voice", "+15555550101")
    cli.ok("user", "add", "ben", "--name", "Ben B", "--sms", "+15555550102", "--email", "ben@example.com")
    cli.ok("user", "add", "cat", "--name", "Cat C", "--sms", "+15555550103")
    return cli


def rules(pager: RealPager, handle: str) -> Any:
    return json.loads(pager.ok("user", "rules", handle, "--json"))


def test_update_sets_and_removes_methods_and_rules_follow(pager: RealPager) -> None:
    assert rules(pager, "ann") == [{"method": "voice", "after": "0m"}]  # voice-only: called at once
    out = pager.ok("user", "update", "ann", "--sms", "+15555550111", "--time-zone", "Europe/Berlin")
    assert out.strip() == (
        "updated user ann (Ann A): voice +15555550101, sms +15555550111; time zone Europe/Berlin; "
        "shift reminder none"
    )
    assert rules(pager, "ann") == [{"method": "sms", "after": "0m"}, {"method": "voice", "after": "1m"}]
    pager.ok("user", "rules", "ann", "--set", "voice:0m", "sms:5m")
    assert rules(pager, "ann") == [{"method": "voice", "after": "0m"}, {"method": "sms", "after": "5m"}]
    pager.ok("user", "update", "ann", "--sms", "off")
    assert rules(pager, "ann") == [{"method": "voice", "after": "0m"}]
    [ann] = [u for u in json.loads(pager.ok("user", "list", "--json")) if u["handle"] == "ann"]
    assert ann["contact_methods"] == [{"kind": "voice", "address": "+15555550101", "verified": True}]


BAD_INPUT = [
    (["user", "update", "zed", "--name", "Z"], "error: no user 'zed'"),
    (["user", "update", "ann"], "error: nothing to change"),
    (["user", "update", "ann", "--sms", "555"], "error: sms number '555' is not E.164"),
    (["user", "update", "ann", "--time-zone", "Mars/Olympus"], "error: unknown time zone 'Mars/Olympus'"),
    (["user", "deactivate", "zed"], "error: no user 'zed'"),
    (["user", "rules", "zed", "--json"], "error: no user 'zed'"),
    (["user", "rules", "ann", "--set", "sms:0m"], "error: ann has no verified sms contact method"),
    (["user", "rules", "ann", "--set", "voice:2x"], "error: bad rule step 'voice:2x'"),
    (["user", "rules", "ann", "voice:2m"], "error: unexpected voice:2m"),
    (["user", "test-page", "zed"], "error: no user 'zed'"),
    (["user", "update", "ann", "--remind-before", "soon"], "error: remind-before:"),
    (["user", "update", "ann", "--remind-before", "30s"], "error: remind-before must be whole minutes"),
    (
        ["user", "update", "ann", "--name", "Ann B", "--remind-before", "8d"],
        "error: remind-before may be at most",
    ),
    (["user", "test-page", "ann", "--method", "email"], "error: ann has no verified email contact method"),
]


def test_remind_before_is_set_shown_and_switched_off(pager: RealPager) -> None:
    out = pager.ok("user", "update", "ann", "--remind-before", "90m")
    assert out.strip().endswith("; shift reminder 1h30m")

    def ann() -> Any:
        return next(u for u in json.loads(pager.ok("user", "list", "--json")) if u["handle"] == "ann")

    assert ann()["remind_before"] == "1h30m"
    pager.ok("user", "update", "ann", "--remind-before", "off")
    assert ann()["remind_before"] is None


def test_bad_input_is_an_error_and_changes_nothing(pager: RealPager) -> None:
    before = pager.ok("user", "list", "--json")
    for args, message in BAD_INPUT:
        err = pager.error(*args)
        assert err.startswith(message), (args, err)
    assert pager.ok("user", "list", "--json") == before
    assert rules(pager, "ann") == [{"method": "voice", "after": "0m"}]


def test_deactivate_takes_a_person_off_call_and_out_of_the_ladder_until_reactivated(
    pager: RealPager, config_dir: Path
) -> None:
    assert json.loads(pager.ok("oncall", "team", "--at", AT, "--json"))["primary"] == "ann"
    assert pager.ok("user", "deactivate", "ann").strip() == "deactivated user ann"
    assert pager.ok("user", "deactivate", "ann").strip() == "user ann was already deactivated"
    oncall = json.loads(pager.ok("oncall", "team", "--at", AT, "--json"))
    assert (oncall["primary"], oncall["secondary"]) == ("ben", None)
    table = pager.ok("user", "list").splitlines()
    assert table[1].split()[:4] == ["ann", "Ann", "A", "deactivated"]
    pager.ok("user", "deactivate", "cat")
    steps = json.loads(pager.ok("simulate", "small", "--at", AT, "--json"))["steps"]
    assert all("ann" not in step["notify"] and "cat" not in step["notify"] for step in steps)
    code, out, err = pager("check")
    assert code == 0 and out.startswith("OK:"), (out, err)
    schedule = config_dir / "schedules" / "team.yaml"
    policy = config_dir / "escalation_policies" / "small.yaml"
    assert f"{schedule}:" in err and "warning: schedule team names deactivated user ann" in err
    assert f"{policy}:" in err and "warning: policy small names deactivated user cat" in err
    assert pager.ok("user", "reactivate", "ann").strip() == "reactivated user ann"
    assert json.loads(pager.ok("oncall", "team", "--at", AT, "--json"))["primary"] == "ann"


def test_check_warns_in_one_line_when_the_database_is_unreachable(config_dir: Path) -> None:
    cli = RealPager("postgresql+psycopg://nobody@127.0.0.1:1/none", config_dir)
    code, out, err = cli("check")
    assert code == 0 and out.startswith("OK:")
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("warning: database unreachable, users not checked")


def test_test_page_queues_one_notice_per_verified_method(pager: RealPager) -> None:
    out = pager.ok("user", "test-page", "ben")
    assert out.splitlines() == [
        "queued test page to ben by sms at +15555550102",
        "queued test page to ben by email at ben@example.com",
    ]
    assert json.loads(pager.ok("user", "test-page", "ben", "--method", "email", "--json")) == [
        {"method": "email", "address": "ben@example.com"}
    ]


def test_a_token_can_act_for_a_person(pager: RealPager) -> None:
    document = json.loads(pager.ok("token", "create", "--role", "responder", "--user", "ann", "--json"))
    assert (document["role"], document["user"]) == ("responder", "ann")
    assert pager.error("token", "create", "--role", "responder", "--user", "zed").startswith(
        "error: no user 'zed'"
    )
    listed = json.loads(pager.ok("token", "list", "--json"))
    assert [(t["role"], t["user"]) for t in listed] == [("responder", "ann")]


def test_check_warns_about_a_handle_that_is_not_a_user(pager: RealPager, config_dir: Path) -> None:
    policy = config_dir / "escalation_policies" / "small.yaml"
    policy.write_text(policy.read_text().replace("user:cat", "user:cta"))
    code, out, err = pager("check")
    assert code == 0 and out.startswith("OK:"), (out, err)
    assert f"{policy}:" in err
    assert "warning: policy small names cta, who is not a user here; nobody is paged for them" in err
    assert "names ann" not in err and "names cat" not in err
