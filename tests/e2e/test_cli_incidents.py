"""`pager incident declare/list/show/status/severity/role/note/milestone` as users run them, and
`pager check` of incidents.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_cli_engine import Pager, add_team, config_dir, db_url, pager

__all__ = ["config_dir", "db_url", "pager"]  # the fixtures this module uses

pytestmark = [pytest.mark.e2e, pytest.mark.database]


def test_an_incident_from_declaration_to_close(pager: Pager) -> None:
    add_team(pager)
    alert = pager.json("alert", "trigger", "web", "--summary", "Checkout down", "--dedup-key", "k")["id"]
    pager.ok("alert", "ack", str(alert), "--by", "ann")
    doc = pager.json(
        "incident", "declare", "--title", "Checkout down", "--severity", "SEV1", "--alert", str(alert),
        "--impact", "--by", "ann",
    )  # fmt: skip
    incident = str(doc["id"])
    assert (doc["roles"]["commander"], doc["services"], doc["alerts"]) == ("ann", ["web"], [alert])
    assert doc["missing_roles"] == ["scribe"]  # the defaults: SEV1 needs a commander and a scribe
    assert doc["next_update_due"] is not None

    out = pager.ok(
        "incident", "role", incident, "scribe", "ben", "--reason", "takes notes", "--page", "--by", "ann"
    )
    assert out.strip() == f"ben is scribe of incident {incident} and paged"
    assert pager.ok("incident", "note", incident, "rolled back 412", "--by", "ben").strip() == (
        f"note added to incident {incident}"
    )
    pager.ok("incident", "milestone", incident, "impact_started", "2026-01-01T00:00:00Z", "--by", "ann")
    assert pager.ok("incident", "severity", incident, "SEV2", "--reason", "one region").strip() == (
        f"incident {incident} is SEV2"
    )
    assert pager.ok("incident", "status", incident, "identified", "--message", "bad deploy").strip() == (
        f"incident {incident} is identified"
    )

    human = pager.ok("incident", "show", incident)
    assert human.startswith(
        f"incident {incident}: Checkout down\nseverity SEV2, identified, customers affected\n"
    )
    assert "  commander         ann\n" in human and "  scribe            ben\n" in human
    assert "  impact_started    2026-01-01T00:00:00+00:00\n" in human
    assert "alert.triggered" in human and "rolled back 412" in human
    shown = pager.json("incident", "show", incident)
    assert shown["timeline"][0]["kind"] == "alert.triggered"
    assert shown["missing_roles"] == []

    listed = pager.json("incident", "list", "--open")
    assert [i["id"] for i in listed] == [int(incident)]
    pager.ok("incident", "status", incident, "resolved")
    pager.ok("incident", "status", incident, "closed")
    assert pager.json("incident", "list", "--open") == []
    err = pager.error("incident", "note", incident, "too late")
    assert err.startswith(f"error: incident {doc['number']} is closed")


def test_drills_are_listed_only_when_asked(pager: Pager) -> None:
    pager.ok("incident", "declare", "--title", "Practice", "--severity", "SEV2", "--drill")
    real = pager.json("incident", "declare", "--title", "Real", "--severity", "SEV2", "--service", "api")[
        "id"
    ]
    assert [i["id"] for i in pager.json("incident", "list")] == [real]
    assert len(pager.json("incident", "list", "--drill")) == 2
    table = pager.ok("incident", "list", "--drill")
    assert "SEV2 DRILL" in table and "commander" in table.splitlines()[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["declare", "--title", "x", "--severity", "SEV5"], "error: unknown severity 'SEV5'"),
        (["declare", "--title", "x", "--severity", "SEV1", "--service", "nope"], "error: no service 'nope'"),
        (["status", "{id}", "fixed"], "error: incident 1: unknown status 'fixed'"),
        (["role", "{id}", "captain", "ann"], "error: unknown role 'captain'"),
        (["role", "{id}", "scribe", "zed"], "error: no user 'zed'"),
        (
            ["milestone", "{id}", "identified", "2025-01-01T00:00:00Z"],
            "error: incident 1: milestone identified at",
        ),
        (["milestone", "{id}", "detected", "2025-01-01T00:00:00"], "error: ISO:"),
        (["show", "99"], "error: no incident 99"),
    ],
)
def test_bad_input_is_one_error_line_and_changes_nothing(pager: Pager, args: list[str], message: str) -> None:
    add_team(pager)
    incident = str(pager.json("incident", "declare", "--title", "Slow", "--severity", "SEV1")["id"])
    before = pager.json("incident", "show", incident)
    err = pager.error("incident", *[a.format(id=incident) for a in args])
    assert err.startswith(message), err
    assert pager.json("incident", "show", incident) == before
    assert len(pager.json("incident", "list")) == 1


def test_check_names_the_line_of_a_bad_incidents_yaml(pager: Pager, config_dir: Path) -> None:
    (config_dir / "incidents.yaml").write_text(
        "overdue_update_policy: small\n"
        "declare:\n  - {service: payments, alert_severity: critical, severity: SEV1}\n"
    )
    code, out, err = pager("check")
    assert code == 1 and "OK" not in out
    assert f"{config_dir / 'incidents.yaml'}:3: unknown service 'payments' in declare rule" in err
    (config_dir / "incidents.yaml").write_text(
        "declare:\n  - {service: web, alert_severity: critical, severity: SEV1}\n"
    )
    code, out, err = pager("check")
    assert code == 0, err
