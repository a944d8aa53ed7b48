"""Loading schedules/*.yaml: every problem located as path:line, valid files turned into core values."""

from __future__ import annotations

import shutil
from datetime import datetime, time
from pathlib import Path

import pytest

from pager.config.schedules import load_schedule_file, load_schedules
from pager.config.yaml_source import YamlMapping, YamlScalar, YamlSequence, parse_yaml
from pager.core.durations import ShiftLength
from pager.core.model import IcalLayer, Restriction, RotationLayer
from tests.support import BAD_SCHEDULES, copy_bad_case, read_bad_cases

REPO = Path(__file__).resolve().parents[2]
BAD = BAD_SCHEDULES
ONE_LAYER = (
    "time_zone: UTC\nlayers:\n  - name: w\n    members: [a]\n    start: 2026-01-01T00:00\n    shift: 1d\n"
)


BAD_CASES = read_bad_cases()


def write(config_dir: Path, schedule_id: str, text: str) -> Path:
    folder = config_dir / "schedules"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{schedule_id}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "at_file", "line", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_each_bad_file_is_reported_at_its_line(
    tmp_path: Path, name: str, at_file: str, line: int, message: str
) -> None:
    path = copy_bad_case(name, tmp_path)
    schedule, errors = load_schedule_file(path)
    assert schedule is None
    rendered = [str(e) for e in errors]
    expected = f"{path.parent / at_file}:{line}: {message}"
    assert any(r.startswith(expected) for r in rendered), rendered


def test_every_bad_fixture_has_a_case() -> None:
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(c[0] for c in BAD_CASES)


def test_shipped_schedules_load_without_problems() -> None:
    schedules, errors = load_schedules(REPO)
    assert errors == []
    assert {"checkout", "platform", "payments"} <= set(schedules)
    checkout = schedules["checkout"]
    assert {layer.role for layer in checkout.layers} == {"primary", "secondary"}
    platform = schedules["platform"]
    restricted = [la for la in platform.layers if isinstance(la, RotationLayer) and la.restrictions]
    assert [la.name for la in restricted] == ["apac", "emea", "amer"]
    payments = schedules["payments"]
    assert any(
        isinstance(layer, IcalLayer) and "BEGIN:VCALENDAR" in layer.ics_text for layer in payments.layers
    )


def test_a_valid_file_becomes_core_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "desk",
        """time_zone: America/Chicago
layers:
  - name: nights
    role: secondary
    members: [frank, gina]
    start: 2026-01-05 22:00
    handoff: "FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=22;BYMINUTE=0"
    restrictions:
      - {days: [Mon, fri], from: 22:00, to: 06:00}
      - {days: [sun], from: "00:00", to: "24:00"}
""",
    )
    schedule, errors = load_schedule_file(path)
    assert errors == []
    assert schedule is not None
    assert (schedule.id, schedule.name, schedule.time_zone) == ("desk", "desk", "America/Chicago")
    (layer,) = schedule.layers
    assert layer == RotationLayer(
        name="nights",
        members=("frank", "gina"),
        start=datetime(2026, 1, 5, 22, 0),
        shift=None,
        handoff_rrule="FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=22;BYMINUTE=0",
        # Unquoted 22:00 would be the YAML 1.1 number 1320; it must still read as a clock time.
        restrictions=(
            Restriction(frozenset({0, 4}), time(22, 0), time(6, 0)),
            Restriction(frozenset({6}), time(0, 0), time(0, 0)),
        ),
        role="secondary",
    )


def test_a_shift_layer_and_an_ical_layer(tmp_path: Path) -> None:
    (tmp_path / "schedules").mkdir()
    shutil.copy(REPO / "schedules" / "payments-holidays.ics", tmp_path / "schedules" / "h.ics")
    path = write(
        tmp_path,
        "pay",
        "name: Pay\ntime_zone: Europe/Berlin\nlayers:\n"
        "  - {name: weekly, members: [nina], start: 2026-01-05T10:00, shift: 1mo}\n"
        "  - {name: holidays, ical: h.ics, role: primary}\n",
    )
    schedule, errors = load_schedule_file(path)
    assert errors == [] and schedule is not None
    weekly, holidays = schedule.layers
    assert isinstance(weekly, RotationLayer) and weekly.shift == ShiftLength(1, "mo")
    assert isinstance(holidays, IcalLayer) and holidays.source == "h.ics"
    assert holidays.ics_text == (REPO / "schedules" / "payments-holidays.ics").read_bytes().decode()


def test_every_problem_of_a_file_is_reported_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "many",
        """name: Many
time_zone: Mars/Olympus
colour: red
layers:
  - name: a
    members: []
    start: 2026-01-05T09:00+01:00
    shift: 0w
  - name: b
    members: [x]
    ical: x.ics
""",
    )
    schedule, errors = load_schedule_file(path)
    assert schedule is None
    lines = [(e.line, e.message.split(":")[0]) for e in errors]
    assert [line for line, _ in lines] == [2, 3, 6, 7, 8, 10, 11]
    messages = " | ".join(e.message for e in errors)
    for part in [
        "unknown time zone 'Mars/Olympus'",
        "unknown key 'colour' in schedule",
        "members is empty",
        "has a UTC offset",
        "bad shift '0w': must be at least 1",
        "'members' does not belong in an iCal layer",
        "cannot read iCal file 'x.ics'",
    ]:
        assert part in messages


def test_a_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    write(tmp_path, "b_bad", "time_zone: Nowhere/Land\nlayers: []\n")
    write(
        tmp_path,
        "a_good",
        "time_zone: UTC\nlayers:\n  - {name: w, members: [a], start: 2026-01-01T00:00, shift: 1d}\n",
    )
    write(tmp_path, "c_bad", "time_zone: UTC\n")
    schedules, errors = load_schedules(tmp_path)
    assert list(schedules) == ["a_good"]
    assert [(e.path.name, e.line) for e in errors] == [
        ("b_bad.yaml", 1),
        ("b_bad.yaml", 2),
        ("c_bad.yaml", 1),
    ]
    assert "missing layers" in errors[2].message


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "empty file"),
        ("- just\n- a list\n", 1, "a schedule file must be a mapping"),
        ("time_zone: UTC\nlayers:\n  - name: w\n    members: alice\n", 4, "members must be a list"),
        ("time_zone: UTC\nlayers:\n  - name: w\n    members:\n", 4, "members is empty"),
        (
            "time_zone: UTC\nlayers:\n  - name: w\n    members: [a, b c]\n",
            4,
            "member 'b c' is not a user handle",
        ),
        (
            "time_zone: UTC\nlayers:\n  - members: [a]\n    start: 2026-01-01T00:00\n    shift: 1d\n",
            3,
            "layer has no name",
        ),
        ("time_zone: UTC\nlayers:\n  - {name: w, members: [a], shift: 1d}\n", 3, "layer has no start"),
        ("time_zone: UTC\nlayers:\n  - just-a-word\n", 3, "a layer must be a mapping"),
        (
            "time_zone: UTC\nlayers:\n  - {name: w, members: [a], start: 2026-01-01T00:00, shift: 1d}\n"
            "  - {name: w, members: [b], start: 2026-01-01T00:00, shift: 1d}\n",
            4,
            "duplicate layer name 'w' (first on line 3)",
        ),
        (
            ONE_LAYER + "    restrictions:\n      - {days: [], from: '09:00', to: '17:00'}\n",
            8,
            "restriction days must be a non-empty list",
        ),
        (
            ONE_LAYER + "    restrictions:\n      - {days: [mon], from: '09:00', to: '24:00', tz: UTC}\n",
            8,
            "unknown key 'tz' in restriction",
        ),
        (
            ONE_LAYER + "    restrictions:\n      - {days: [mon], from: '24:00', to: '9:75'}\n",
            8,
            "bad restriction time '24:00' for from: expected \"HH:MM\" from 00:00 to 23:59",
        ),
    ],
)
def test_structural_problems(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, "s", text)
    schedule, errors = load_schedule_file(path)
    assert schedule is None
    assert any(e.line == line and e.message.startswith(message) for e in errors), [str(e) for e in errors]


def test_a_file_name_that_cannot_be_an_id(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "my schedule",
        "time_zone: UTC\nlayers:\n  - {name: w, members: [a], start: 2026-01-01T00:00, shift: 1d}\n",
    )
    schedule, errors = load_schedule_file(path)
    assert schedule is None
    assert [(e.line, e.message.split(":")[0]) for e in errors] == [
        (1, "file name 'my schedule.yaml' is not a usable schedule id")
    ]


def test_yaml_source_keeps_the_line_of_every_key_and_item() -> None:
    value, errors = parse_yaml("a: 1\nb:\n  - x\n  -\n    c: 22:00\n", Path("f.yaml"))
    assert errors == []
    assert isinstance(value, YamlMapping)
    assert [(e.key, e.line) for e in value] == [("a", 1), ("b", 2)]
    b = value.get("b")
    assert b is not None and isinstance(b.value, YamlSequence)
    assert [item.line for item in b.value.items] == [3, 5]
    inner = b.value.items[1]
    assert isinstance(inner, YamlMapping)
    c = inner.get("c")
    assert c is not None and c.value == YamlScalar("22:00", 5, is_null=False)
