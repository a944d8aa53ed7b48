"""incidents.yaml read by load_config (pager check and reloads): the settings, and each problem as
`path:line: message` with the defaults kept."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from pager.config.loader import load_config
from pager.core.incident_model import DeclareRule, IncidentRules, PostmortemDue, SeverityRules
from tests.services.incident_fixtures import INCIDENTS, write_config


def config_with(tmp_path: Path, incidents: str | None) -> Path:
    return write_config(tmp_path / "config", incidents)


def test_without_the_file_the_defaults_hold(tmp_path: Path) -> None:
    config = load_config(config_with(tmp_path, None))
    assert config.errors == []
    assert config.incidents == IncidentRules()


def test_the_documented_example_is_read(tmp_path: Path) -> None:
    config = load_config(config_with(tmp_path, INCIDENTS))
    assert config.errors == []
    rules = config.incidents
    assert rules.severities == {
        "SEV0": SeverityRules(timedelta(minutes=15), ("commander", "comms_lead")),
        "SEV1": SeverityRules(timedelta(minutes=30), ("commander",)),
        "SEV2": SeverityRules(timedelta(minutes=60), ()),
    }
    assert rules.overdue_update_policy == "incident-comms"
    assert rules.postmortem_due == PostmortemDue(business_days=3, duration=None)
    assert rules.declare == (DeclareRule("checkout-api", "critical", "SEV1"),)


def test_partial_settings_keep_the_other_defaults(tmp_path: Path) -> None:
    config = load_config(
        config_with(tmp_path, "severities:\n  SEV1: {update_every: 3s}\npostmortem_due: 48h\n")
    )
    assert config.errors == []
    assert config.incidents.severities["SEV1"] == SeverityRules(timedelta(seconds=3), ())
    assert config.incidents.severities["SEV0"] == IncidentRules().severities["SEV0"]
    assert config.incidents.postmortem_due == PostmortemDue(business_days=None, duration=timedelta(hours=48))


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "severities:\n  SEV3: {update_every: 5m}\n",
            2,
            "unknown severity 'SEV3'; severities: SEV0, SEV1, SEV2",
        ),
        ("severities:\n  SEV1:\n    require: [commander, boss]\n", 3, "unknown role 'boss' in require"),
        ("severities:\n  SEV1: {update_every: soon}\n", 2, "update_every: bad duration 'soon'"),
        ("severities:\n  SEV1: {every: 5m}\n", 2, "unknown key 'every' in severity SEV1"),
        ("overdue_update_policy: nobody\n", 1, "unknown escalation policy 'nobody' in overdue_update_policy"),
        ("postmortem_due: 3 weekdays\n", 1, "bad postmortem_due '3 weekdays'"),
        ("postmortem_due: 0 business days\n", 1, "bad postmortem_due '0 business days'"),
        (
            "declare:\n  - service: checkout-api\n    alert_severity: critical\n    severity: SEV1\n"
            "  - {service: payments, alert_severity: critical, severity: SEV1}\n",
            5,
            "unknown service 'payments' in declare rule",
        ),
        (
            "declare:\n  - {service: search, alert_severity: fatal, severity: SEV1}\n",
            2,
            "unknown alert severity 'fatal'",
        ),
        ("declare:\n  - {service: search, alert_severity: critical}\n", 2, "declare rule has no severity"),
        ("\nupdate_every: 5m\n", 2, "unknown key 'update_every' in incidents.yaml"),
        ("- SEV1\n", 1, "incidents.yaml must be a mapping of settings"),
        ("severities: [SEV1\n", 2, "invalid YAML"),
    ],
)
def test_each_problem_names_its_line_and_keeps_the_defaults(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    folder = config_with(tmp_path, text)
    config = load_config(folder)
    assert [str(e).split(": ", 1)[0] for e in config.errors] == [f"{folder / 'incidents.yaml'}:{line}"], (
        config.errors
    )
    assert message in config.errors[0].message
    assert config.incidents == IncidentRules()


def test_a_misnamed_file_is_pointed_out(tmp_path: Path) -> None:
    folder = config_with(tmp_path, None)
    (folder / "incidents.yml").write_text(textwrap.dedent(INCIDENTS))
    config = load_config(folder)
    assert [str(e) for e in config.errors] == [
        f"{folder / 'incidents.yml'}:1: the incident settings file is incidents.yaml; rename it"
    ]
