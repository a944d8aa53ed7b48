"""`pager alert snooze` and `pager maintenance start/end/list` as users run them (and their errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_cli_engine import Pager, add_team, config_dir, db_url, pager

__all__ = ["config_dir", "db_url", "pager"]  # the fixtures this module uses

pytestmark = [pytest.mark.e2e, pytest.mark.database]


def trigger(pager: Pager, service: str = "web", key: str = "k") -> int:
    return int(
        pager.json("alert", "trigger", service, "--summary", "Checkout down", "--dedup-key", key)["id"]
    )


def test_alert_snooze_acknowledges_and_says_until_when(pager: Pager) -> None:
    add_team(pager)
    alert_id = trigger(pager)
    out = pager.ok("alert", "snooze", str(alert_id), "--minutes", "30", "--by", "ann")
    assert (
        out.strip()
        == f"alert {alert_id} snoozed for 30 min; it pages again from level 1 then unless resolved"
    )
    shown = pager.json("alert", "show", str(alert_id))
    assert shown["status"] == "acknowledged" and shown["acknowledged_by"] == "ann"
    assert any(
        e["kind"] == "snoozed" and e["message"].startswith("snoozed by ann for 30m, until ")
        for e in shown["timeline"]
    )
    pager.ok("alert", "resolve", str(alert_id))
    assert pager.ok("alert", "snooze", str(alert_id), "--minutes", "5").strip() == (
        f"alert {alert_id} is already resolved; nothing changed"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--minutes", "0"], "error: a snooze lasts 1 to 1440 minutes, not 0"),
        (["--minutes", "1441"], "error: a snooze lasts 1 to 1440 minutes, not 1441"),
    ],
)
def test_alert_snooze_refuses_bad_minutes(pager: Pager, args: list[str], message: str) -> None:
    alert_id = trigger(pager)
    assert pager.error("alert", "snooze", str(alert_id), *args).startswith(message)
    assert pager.json("alert", "show", str(alert_id))["status"] == "triggered"
    assert pager.error("alert", "snooze", "999", "--minutes", "5").startswith("error: no alert 999")


def test_maintenance_start_holds_new_alerts_and_end_releases_them(pager: Pager) -> None:
    add_team(pager)
    started = pager.json("maintenance", "start", "web", "--for", "2h", "--reason", "db upgrade")
    assert (started["service"], started["state"], started["reason"]) == ("web", "active", "db upgrade")
    window = started["id"]
    alert_id = trigger(pager)
    assert pager.json("alert", "show", str(alert_id))["status"] == "suppressed"
    assert [a["id"] for a in pager.json("alert", "list", "--status", "suppressed")] == [alert_id]
    assert [w["id"] for w in pager.json("maintenance", "list")] == [window]
    table = pager.ok("maintenance", "list").splitlines()
    assert table[0].split() == ["ID", "SERVICE", "STATE", "START", "(UTC)", "END", "(UTC)", "REASON"]

    assert pager.ok("maintenance", "end", str(window)).strip() == (
        f"maintenance window {window} on web ended; 1 held alert(s) released"
    )
    shown = pager.json("alert", "show", str(alert_id))
    assert shown["status"] == "triggered"
    assert any(e["kind"] == "level_paged" for e in shown["timeline"])
    assert pager.json("maintenance", "list")[0]["state"] == "ended"
    assert pager.json("maintenance", "list", "--current") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["start", "nope", "--for", "1h"], "error: no service 'nope'"),
        (["start", "web", "--for", "2 hours"], "error: window length '2 hours'"),
        (["start", "web", "--for", "0m"], "error: window length '0m'"),
        (["start", "web", "--for", "40d"], "error: a maintenance window lasts at most 30 days"),
        (["end", "999"], "error: no maintenance window 999"),
    ],
)
def test_maintenance_refuses_bad_input_and_changes_nothing(
    pager: Pager, args: list[str], message: str
) -> None:
    assert pager.error("maintenance", *args).startswith(message)
    assert pager.json("maintenance", "list") == []


def test_maintenance_refuses_an_overlapping_window(pager: Pager) -> None:
    first = pager.json("maintenance", "start", "web", "--for", "1h")["id"]
    err = pager.error("maintenance", "start", "web", "--for", "30m")
    assert f"already in maintenance window {first}" in err and f"pager maintenance end {first}" in err
    pager.ok("maintenance", "start", "api", "--for", "30m")  # another service is fine
    assert len(pager.json("maintenance", "list")) == 2


def test_pager_check_reports_bad_recurring_windows(pager: Pager, config_dir: Path) -> None:
    policy = config_dir / "escalation_policies" / "small.yaml"
    policy.write_text(
        policy.read_text().replace(
            "  - {id: api, name: Public API}",
            "  - id: api\n"
            "    name: Public API\n"
            "    maintenance:\n"
            '      - {days: [sun], from: "02:00", to: "04:00", time_zone: Europe/Berlin}\n'
            '      - {days: [sun], from: "04:00", to: "02:00", time_zone: Europe/Berlin}\n'
            '      - {days: [sun], from: "03:00", to: "03:00", time_zone: UTC}\n'
            '      - {days: [sunday], from: "01:00", to: "02:00", time_zone: Mars/Base}\n',
        )
    )
    code, out, err = pager("check")
    assert code == 1
    lines = (out + err).splitlines()
    path = "escalation_policies/small.yaml"
    for expected in (
        f"{path}:17: inverted maintenance window: to 02:00 is before from 04:00",
        f"{path}:18: empty maintenance window: from and to are both 03:00",
        f"{path}:19: unknown day 'sunday'",
        f"{path}:19: unknown time zone 'Mars/Base'",
    ):
        assert any(expected in line for line in lines), (expected, lines)
    assert not any(":16:" in line for line in lines)
