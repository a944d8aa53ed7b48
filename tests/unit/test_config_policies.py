"""Escalation policy files: valid ones load; each bad case is reported as path:line: message."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pager.cli import app
from pager.config.loader import load_config
from pager.core.policy import Target

REPO = Path(__file__).resolve().parents[2]

SCHEDULE = """\
time_zone: America/Chicago
layers:
  - name: weekly
    members: [alice, bob]
    start: 2026-01-05T09:00
    shift: 1w
"""

GOOD = """\
name: Checkout critical
repeat: 2
ack_timeout: 30m
auto_resolve: 4h
levels:
  - notify: [schedule:checkout]
    escalate_after: 5m
  - notify: [schedule:checkout/secondary, user:dana]
    escalate_after: 10m
services:
  - {id: checkout-api, name: Checkout API, runbook: https://wiki.example.com/checkout}
"""


def write_config(root: Path, policies: dict[str, str]) -> Path:
    (root / "schedules").mkdir()
    (root / "schedules" / "checkout.yaml").write_text(SCHEDULE)
    (root / "escalation_policies").mkdir()
    for name, text in policies.items():
        (root / "escalation_policies" / name).write_text(textwrap.dedent(text))
    return root


def test_good_policy_loads_with_every_field(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, {"checkout.yaml": GOOD}))
    assert config.errors == []
    policy = config.policies["checkout"]
    assert policy.name == "Checkout critical"
    assert policy.repeat == 2
    assert policy.ack_timeout == timedelta(minutes=30)
    assert policy.auto_resolve == timedelta(hours=4)
    assert [level.escalate_after for level in policy.levels] == [timedelta(minutes=5), timedelta(minutes=10)]
    assert policy.levels[1].targets == (Target("schedule", "checkout", "secondary"), Target("user", "dana"))
    assert config.services["checkout-api"][0].runbook == "https://wiki.example.com/checkout"


BAD_CASES = [
    (
        "unknown schedule",
        GOOD.replace("schedule:checkout]", "schedule:chekout]"),
        6,
        "unknown schedule 'chekout'",
    ),
    ("bad duration", GOOD.replace("escalate_after: 5m", "escalate_after: 5 minutes"), 7, "bad duration"),
    ("zero escalate_after", GOOD.replace("escalate_after: 5m", "escalate_after: 0s"), 7, "longer than zero"),
    (
        "bad ack_timeout",
        GOOD.replace("ack_timeout: 30m", "ack_timeout: soon"),
        3,
        "ack_timeout: bad duration",
    ),
    ("no levels", "name: x\nlevels: []\n", 2, "levels must be a non-empty list"),
    ("missing levels", "name: x\n", 1, "missing levels"),
    (
        "repeat too large",
        GOOD.replace("repeat: 2", "repeat: 12"),
        2,
        "repeat must be a whole number from 0 to 9",
    ),
    ("bad target", GOOD.replace("user:dana", "team:dana"), 8, "bad target 'team:dana'"),
    ("unknown key", GOOD.replace("repeat: 2", "repaet: 2"), 2, "unknown key 'repaet'"),
    ("level without escalate_after", GOOD.replace("    escalate_after: 10m\n", ""), 8, "no escalate_after"),
    ("invalid yaml", "levels: [\n", 2, "invalid YAML"),
]


@pytest.mark.parametrize(("case", "text", "line", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_policy_is_located(tmp_path: Path, case: str, text: str, line: int, message: str) -> None:
    config = load_config(write_config(tmp_path, {"checkout.yaml": text}))
    path = tmp_path / "escalation_policies" / "checkout.yaml"
    assert "checkout" not in config.policies
    rendered = [str(error) for error in config.errors]
    assert any(r.startswith(f"{path}:{line}: ") and message in r for r in rendered), rendered


def test_duplicate_service_id_across_files_names_both(tmp_path: Path) -> None:
    second = GOOD.replace("Checkout critical", "Other")
    config = load_config(write_config(tmp_path, {"a.yaml": GOOD, "b.yaml": second}))
    path = tmp_path / "escalation_policies" / "b.yaml"
    assert [str(e) for e in config.errors] == [
        f"{path}:11: duplicate service id 'checkout-api' (already in a.yaml:11)"
    ]
    assert set(config.policies) == {"a"}


def test_policy_on_broken_schedule_reports_only_the_schedule(tmp_path: Path) -> None:
    root = write_config(tmp_path, {"checkout.yaml": GOOD})
    (root / "schedules" / "checkout.yaml").write_text(SCHEDULE.replace("America/Chicago", "Mars/Base"))
    config = load_config(root)
    assert [e.path.name for e in config.errors] == ["checkout.yaml"]
    assert config.errors[0].path.parent.name == "schedules"


def test_pager_check_fails_on_a_bad_policy_and_passes_on_shipped_files(tmp_path: Path) -> None:
    runner = CliRunner()
    root = write_config(tmp_path, {"checkout.yaml": BAD_CASES[0][1]})
    bad = runner.invoke(app, ["--config-dir", str(root), "check"])
    assert bad.exit_code == 1
    assert f"{root / 'escalation_policies' / 'checkout.yaml'}:6: unknown schedule 'chekout'" in bad.output
    shipped = runner.invoke(app, ["--config-dir", str(REPO), "check"])
    assert shipped.exit_code == 0, shipped.output
    assert "3 policies" in shipped.output
