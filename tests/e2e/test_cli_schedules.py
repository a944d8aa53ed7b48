"""The schedule commands as users run them: check, oncall, shifts, coverage, and `pager demo`'s table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pager.cli import app
from pager.commands.demo import on_call_table
from pager.config.schedules import load_schedules
from tests.support import copy_bad_case, read_bad_cases

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(p.stem for p in (REPO / "schedules").glob("*.yaml"))
runner = CliRunner()


BAD_CASES = read_bad_cases()


def without_pager_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PAGER_")}


def pager_process(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, as a user's shell would start it."""
    return subprocess.run(
        [sys.executable, "-c", "from pager.cli import app; app()", *args],
        cwd=cwd,
        env=without_pager_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def pager(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"PAGER_CONFIG_DIR": None})
    return result.exit_code, result.stdout, result.stderr


def schedule_dir(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "schedules"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def oncall(config_dir: Path, schedule_id: str, at: str) -> dict[str, object]:
    code, out, err = pager("--config-dir", str(config_dir), "oncall", schedule_id, "--at", at, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert isinstance(document, dict)
    return document


CHICAGO_SPRING = """name: Spring forward
time_zone: America/Chicago
layers:
  - name: weekly
    members: [a, b]
    start: 2026-03-01T02:30
    shift: 1w
"""


# -- real processes ----------------------------------------------------------------------------------


def test_shipped_schedules_pass_check_in_a_real_process() -> None:
    result = pager_process("check")
    assert (result.returncode, result.stdout.strip(), result.stderr) == (
        0,
        f"OK: {len(SHIPPED)} schedules, 3 policies, 5 services",
        "",
    )


def test_check_of_bad_files_in_a_real_process(tmp_path: Path) -> None:
    for name, *_ in BAD_CASES:
        copy_bad_case(name, tmp_path)
    result = pager_process("--config-dir", str(tmp_path), "check")
    assert result.returncode == 1
    assert result.stdout == ""
    reported = result.stderr.splitlines()
    for _name, at_file, line, message in BAD_CASES:
        prefix = f"{tmp_path / 'schedules' / at_file}:{line}: {message}"
        assert any(r.startswith(prefix) for r in reported), prefix
    # Files are checked in sorted order.
    yaml_order = [r.split(":")[0] for r in reported if r.split(":")[0].endswith(".yaml")]
    assert yaml_order == sorted(yaml_order)


def test_oncall_json_in_a_real_process(tmp_path: Path) -> None:
    schedule_dir(tmp_path, spring=CHICAGO_SPRING)
    result = pager_process(
        "--config-dir", str(tmp_path), "oncall", "spring", "--at", "2026-03-08T08:30:00Z", "--json"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "schedule": "spring",
        "at": "2026-03-08T08:30:00+00:00",
        "primary": "b",
        "secondary": "a",
    }


# -- check ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "at_file", "line", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_check_reports_each_bad_case(
    tmp_path: Path, name: str, at_file: str, line: int, message: str
) -> None:
    copy_bad_case(name, tmp_path)
    code, out, err = pager("--config-dir", str(tmp_path), "check")
    assert code == 1
    assert "OK" not in out
    assert f"{tmp_path / 'schedules' / at_file}:{line}: {message}" in err


def test_check_without_a_schedules_folder(tmp_path: Path) -> None:
    code, _, err = pager("--config-dir", str(tmp_path), "check")
    assert code == 1
    assert "no schedules/ directory" in err


def test_check_require_coverage(tmp_path: Path) -> None:
    office = """time_zone: America/Chicago
layers:
  - name: office
    members: [a, b]
    start: 2026-01-05T09:00
    shift: 1d
    restrictions:
      - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}
"""
    schedule_dir(tmp_path, office=office)
    code, out, _ = pager("--config-dir", str(tmp_path), "check", "--from", "2026-06-01T00:00:00Z")
    assert (code, out.strip()) == (0, "OK: 1 schedules, 0 policies, 0 services")
    code, _, err = pager(
        "--config-dir", str(tmp_path), "check", "--require-coverage", "--from", "2026-06-01T00:00:00Z"
    )
    assert code == 1
    first = err.splitlines()[0]
    path = tmp_path / "schedules" / "office.yaml"
    # Monday 2026-06-01 00:00 UTC is Sunday 19:00 CDT: nobody until Monday 09:00 CDT.
    assert first.startswith(
        f"{path}:1: nobody is primary from 2026-06-01T00:00:00+00:00 to 2026-06-01T14:00:00+00:00 (14.0 h)"
    )


def test_shipped_schedules_have_no_primary_gap_in_30_days() -> None:
    code, out, err = pager(
        "--config-dir", str(REPO), "check", "--require-coverage", "--from", "2026-12-20T00:00:00Z"
    )
    assert (code, out.strip(), err) == (0, f"OK: {len(SHIPPED)} schedules, 3 policies, 5 services", "")


# -- oncall: the examples of docs/schedules.md, "Time rules" ---------------------------------------------


def test_spring_forward_handoff_is_at_0330_cdt(tmp_path: Path) -> None:
    schedule_dir(tmp_path, spring=CHICAGO_SPRING)
    assert oncall(tmp_path, "spring", "2026-03-08T08:29:00Z")["primary"] == "a"
    assert oncall(tmp_path, "spring", "2026-03-08T08:30:00Z")["primary"] == "b"
    # Any offset is accepted; the answer is in UTC.
    assert oncall(tmp_path, "spring", "2026-03-08T03:30:00-05:00") == {
        "schedule": "spring",
        "at": "2026-03-08T08:30:00+00:00",
        "primary": "b",
        "secondary": "a",
    }


def test_daily_handoff_stays_0900_local_across_fall_back(tmp_path: Path) -> None:
    daily = (
        "time_zone: America/Chicago\nlayers:\n"
        "  - {name: d, members: [a, b], start: 2026-10-30T09:00, shift: 1d}\n"
    )
    schedule_dir(tmp_path, daily=daily)
    expected = [
        ("2026-10-31T13:59:59Z", "a"),
        ("2026-10-31T14:00:00Z", "b"),
        ("2026-11-01T14:59:59Z", "b"),
        ("2026-11-01T15:00:00Z", "a"),
    ]
    assert [(at, oncall(tmp_path, "daily", at)["primary"]) for at, _ in expected] == expected


def test_friday_overnight_restriction(tmp_path: Path) -> None:
    friday = """time_zone: America/Chicago
layers:
  - name: friday-night
    members: [a]
    start: 2026-01-02T22:00
    shift: 1d
    restrictions:
      - {days: [fri], from: "22:00", to: "06:00"}
"""
    schedule_dir(tmp_path, friday=friday)
    # Friday 2026-03-06 in CST (UTC-6).
    expected = [
        ("2026-03-07T03:59:59Z", None),  # Fri 21:59:59
        ("2026-03-07T04:00:00Z", "a"),  # Fri 22:00
        ("2026-03-07T11:59:59Z", "a"),  # Sat 05:59:59
        ("2026-03-07T12:00:00Z", None),  # Sat 06:00
        ("2026-03-08T04:00:00Z", None),  # Sat 22:00: not a Friday
    ]
    assert [(at, oncall(tmp_path, "friday", at)["primary"]) for at, _ in expected] == expected


def test_a_naive_at_is_an_error_that_says_so(tmp_path: Path) -> None:
    schedule_dir(tmp_path, spring=CHICAGO_SPRING)
    code, out, err = pager(
        "--config-dir", str(tmp_path), "oncall", "spring", "--at", "2026-03-08T08:30", "--json"
    )
    assert (code, out) == (1, "")
    assert "--at" in err and "has no UTC offset" in err


def test_unknown_and_invalid_schedules(tmp_path: Path) -> None:
    schedule_dir(tmp_path, spring=CHICAGO_SPRING, broken="time_zone: Nowhere/Land\nlayers: []\n")
    code, _, err = pager("--config-dir", str(tmp_path), "oncall", "nope")
    assert code == 1 and "unknown schedule 'nope'" in err and "known: broken, spring" in err
    code, _, err = pager("--config-dir", str(tmp_path), "oncall", "../schedules/spring")
    assert code == 1 and "unknown schedule" in err
    code, _, err = pager("--config-dir", str(tmp_path), "oncall", "broken")
    assert (
        code == 1 and f"{tmp_path / 'schedules' / 'broken.yaml'}:1: unknown time zone 'Nowhere/Land'" in err
    )


def test_oncall_table(tmp_path: Path) -> None:
    schedule_dir(tmp_path, spring=CHICAGO_SPRING)
    code, out, _ = pager("--config-dir", str(tmp_path), "oncall", "spring", "--at", "2026-03-08T08:30:00Z")
    assert code == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()}
    assert rows["primary"][0] == "b" and rows["secondary"][0] == "a"
    assert "Sun 2026-03-08 03:30 CDT" in out


# -- shifts ----------------------------------------------------------------------------------------------


def test_shifts_json(tmp_path: Path) -> None:
    schedule_dir(tmp_path, spring=CHICAGO_SPRING)
    args = ["--config-dir", str(tmp_path), "shifts", "spring", "--from", "2026-03-07T00:00:00Z"]
    code, out, err = pager(*args, "--to", "2026-03-16T00:00:00Z", "--json")
    assert code == 0, err
    assert json.loads(out) == [
        {
            "role": "primary",
            "user": "a",
            "start": "2026-03-07T00:00:00+00:00",
            "end": "2026-03-08T08:30:00+00:00",
        },
        {
            "role": "secondary",
            "user": "b",
            "start": "2026-03-07T00:00:00+00:00",
            "end": "2026-03-08T08:30:00+00:00",
        },
        {
            "role": "primary",
            "user": "b",
            "start": "2026-03-08T08:30:00+00:00",
            "end": "2026-03-15T07:30:00+00:00",
        },
        {
            "role": "secondary",
            "user": "a",
            "start": "2026-03-08T08:30:00+00:00",
            "end": "2026-03-15T07:30:00+00:00",
        },
        {
            "role": "primary",
            "user": "a",
            "start": "2026-03-15T07:30:00+00:00",
            "end": "2026-03-16T00:00:00+00:00",
        },
        {
            "role": "secondary",
            "user": "b",
            "start": "2026-03-15T07:30:00+00:00",
            "end": "2026-03-16T00:00:00+00:00",
        },
    ]
    code, out, _ = pager(*args, "--to", "2026-03-16T00:00:00Z", "--role", "secondary", "--json")
    assert code == 0 and {s["role"] for s in json.loads(out)} == {"secondary"}
    code, out, _ = pager(*args, "--to", "2026-03-16T00:00:00Z")
    assert code == 0 and "Sun 2026-03-08 03:30 CDT" in out
    code, _, err = pager(*args, "--to", "2026-03-06T00:00:00Z")
    assert code == 1 and "--to must be later than --from" in err
    code, _, err = pager(*args, "--to", "2026-03-16")
    assert code == 1 and "--to" in err and "no UTC offset" in err


# -- coverage --------------------------------------------------------------------------------------------


def test_coverage_finds_a_planted_gap_to_the_second(tmp_path: Path) -> None:
    ics = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//pager tests//EN",
            "BEGIN:VEVENT",
            "UID:cover@pager.example",
            "DTSTAMP:20260101T000000Z",
            "SUMMARY:carol",
            "DTSTART:20260602T101112Z",
            "DTEND:20260602T101159Z",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    planted = """time_zone: Europe/Berlin
layers:
  - name: weekly
    members: [alice, bob]
    start: 2026-01-05T09:00
    shift: 1w
    restrictions:
      - {days: [mon, tue, wed, thu, fri, sat], from: "00:00", to: "24:00"}
      - {days: [sun], from: "00:00", to: "12:00"}
      - {days: [sun], from: "12:01", to: "24:00"}
  - name: cover
    ical: cover.ics
"""
    schedule_dir(tmp_path, planted=planted)
    (tmp_path / "schedules" / "cover.ics").write_bytes(ics.encode())
    code, out, err = pager(
        "--config-dir",
        str(tmp_path),
        "coverage",
        "planted",
        "--from",
        "2026-06-01T00:00:00Z",
        "--days",
        "14",
        "--json",
    )
    assert code == 0, err
    document = json.loads(out)
    primary_gaps = [g for g in document["gaps"] if g["role"] == "primary"]
    # Sundays 12:00-12:01 CEST are the planted gaps.
    assert primary_gaps == [
        {
            "role": "primary",
            "start": "2026-06-07T10:00:00+00:00",
            "end": "2026-06-07T10:01:00+00:00",
            "seconds": 60,
        },
        {
            "role": "primary",
            "start": "2026-06-14T10:00:00+00:00",
            "end": "2026-06-14T10:01:00+00:00",
            "seconds": 60,
        },
    ]
    people = {p["user"]: p for p in document["load"]["primary"]["people"]}
    assert people["carol"]["seconds"] == 47
    window = 14 * 86400
    assert document["load"]["primary"]["covered_seconds"] + 120 == window
    assert sum(p["seconds"] for p in people.values()) == window - 120
    # Secondary follows the rotation's next member, so it has the same gaps plus carol's 47 seconds.
    secondary_gaps = [(g["start"], g["seconds"]) for g in document["gaps"] if g["role"] == "secondary"]
    assert ("2026-06-02T10:11:12+00:00", 47) in secondary_gaps
    assert document["load"]["secondary"]["covered_seconds"] + sum(s for _, s in secondary_gaps) == window
    assert document["from"] == "2026-06-01T00:00:00+00:00" and document["to"] == "2026-06-15T00:00:00+00:00"


def test_coverage_table(tmp_path: Path) -> None:
    schedule_dir(tmp_path, spring=CHICAGO_SPRING)
    code, out, _ = pager(
        "--config-dir", str(tmp_path), "coverage", "spring", "--from", "2026-03-02T00:00:00Z", "--days", "14"
    )
    assert code == 0
    assert "primary: no gaps" in out and "secondary: no gaps" in out
    assert "spread:" in out and "NIGHT HOURS" in out


# -- pager demo's table ---------------------------------------------------------------------------------


def test_demo_table_lists_every_shipped_schedule() -> None:
    schedules, errors = load_schedules(REPO)
    assert errors == []
    table = on_call_table(schedules, [], datetime(2026, 11, 23, 14, 30, tzinfo=UTC))
    rows = {line.split()[0]: line.split() for line in table.splitlines()[1:]}
    assert sorted(rows) == SHIPPED
    assert {"checkout", "payments", "platform"} <= set(rows)
    # Checkout turns weekly from Mon 2026-01-05 09:00 CST; on 2026-11-23 (week 46) bob hands over
    # to carol at 09:00 CST = 15:00 UTC.
    assert rows["checkout"][:4] == ["checkout", "America/Chicago", "bob", "alice"]
    assert "2026-11-23T15:00:00+00:00" in rows["checkout"] and rows["checkout"][-3:] == ["bob", "->", "carol"]
    # Platform at 14:30 UTC on a Monday: the Americas team has it.
    assert rows["platform"][2] in {"lee", "max"}
