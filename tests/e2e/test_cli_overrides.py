"""`pager override remove/replace/swap` as users run them, and what oncall/shifts/check then say.

Same small config and databases as test_cli_engine (team: ann on even days from 2026-01-05 09:00 UTC,
ben on odd ones; ann holds 2026-03-08 09:00 .. 2026-03-09 09:00).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import test_cli_engine as engine_cli
from tests.e2e.test_cli_engine import AT, Pager, add_team

# The same fixtures as test_cli_engine: a migrated database of the test's own and the small config.
db_url = engine_cli.db_url
config_dir = engine_cli.config_dir
pager = engine_cli.pager

pytestmark = pytest.mark.e2e

WINDOW = ("--from", "2026-03-08T10:00:00Z", "--to", "2026-03-08T14:00:00Z")
INSIDE = "2026-03-08T12:00:00+00:00"


def primary_shifts(pager: Pager, start: str, end: str) -> list[tuple[str, str, str]]:
    shifts = pager.json("shifts", "team", "--role", "primary", "--from", start, "--to", end)
    return [(s["user"], s["start"], s["end"]) for s in shifts]


@pytest.mark.database
def test_oncall_changes_after_override_remove(pager: Pager) -> None:
    add_team(pager)
    assert pager.json("oncall", "team", "--at", INSIDE) == {
        "schedule": "team",
        "at": INSIDE,
        "primary": "ann",
        "secondary": "ben",
    }
    out = pager.ok("override", "remove", "team", "--user", "ann", *WINDOW)
    assert out.strip() == (
        "override 1: ann is not primary of team from 2026-03-08T10:00:00+00:00 to 2026-03-08T14:00:00+00:00"
    )
    # ben, the next member of the rotation, stands in; nobody is left to derive a secondary from.
    assert pager.json("oncall", "team", "--at", INSIDE) == {
        "schedule": "team",
        "at": INSIDE,
        "primary": "ben",
        "secondary": None,
    }
    assert pager.json("oncall", "team", "--at", "2026-03-08T14:00:00Z")["primary"] == "ann"
    assert primary_shifts(pager, AT, "2026-03-08T16:00:00Z") == [
        ("ann", "2026-03-08T09:00:00+00:00", "2026-03-08T10:00:00+00:00"),
        ("ben", "2026-03-08T10:00:00+00:00", "2026-03-08T14:00:00+00:00"),
        ("ann", "2026-03-08T14:00:00+00:00", "2026-03-08T16:00:00+00:00"),
    ]
    listed = pager.json("override", "list")
    assert [(o["kind"], o["user"], o["instead_of"]) for o in listed] == [("remove", "ann", None)]


@pytest.mark.database
def test_replace_puts_someone_in_only_where_the_replaced_person_was(pager: Pager) -> None:
    add_team(pager)
    out = pager.ok(
        "override", "replace", "team", "--user", "cat", "--instead-of", "ben",
        "--from", "2026-03-08T00:00:00Z", "--to", "2026-03-10T00:00:00Z",
    )  # fmt: skip
    assert "cat is primary of team instead of ben" in out
    assert primary_shifts(pager, "2026-03-08T00:00:00Z", "2026-03-10T00:00:00Z") == [
        ("cat", "2026-03-08T00:00:00+00:00", "2026-03-08T09:00:00+00:00"),
        ("ann", "2026-03-08T09:00:00+00:00", "2026-03-09T09:00:00+00:00"),
        ("cat", "2026-03-09T09:00:00+00:00", "2026-03-10T00:00:00+00:00"),
    ]


@pytest.mark.database
def test_swap_trades_two_shifts(pager: Pager) -> None:
    add_team(pager)
    rows = pager.json(
        "override", "swap", "team", "--user", "ann", "--at", INSIDE,
        "--with", "ben", "--at", "2026-03-11T12:00:00Z",
    )  # fmt: skip
    assert [(r["kind"], r["user"], r["instead_of"], r["start"], r["end"]) for r in rows] == [
        ("replace", "ben", "ann", "2026-03-08T09:00:00+00:00", "2026-03-09T09:00:00+00:00"),
        ("replace", "ann", "ben", "2026-03-11T09:00:00+00:00", "2026-03-12T09:00:00+00:00"),
    ]
    users = [user for user, _, _ in primary_shifts(pager, AT, "2026-03-12T09:00:00Z")]
    # Days from 03-08: ann, ben, ann, ben become ben (swapped), ben, ann, ann (swapped): merged.
    assert users == ["ben", "ann"]
    assert pager.json("oncall", "team", "--at", INSIDE)["primary"] == "ben"
    assert pager.json("oncall", "team", "--at", "2026-03-11T12:00:00Z")["primary"] == "ann"


@pytest.mark.database
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["remove", "team", "--user", "ben", *WINDOW], "error: 'ben' is not primary of 'team' between"),
        (["remove", "team", "--user", "zed", *WINDOW], "error: no user 'zed'"),
        (
            [
                "remove",
                "team",
                "--user",
                "ann",
                "--from",
                "2026-03-08T14:00:00Z",
                "--to",
                "2026-03-08T10:00:00Z",
            ],
            "error: override must end after it starts",
        ),
        (["replace", "team", "--user", "cat", "--instead-of", "zed", *WINDOW], "error: no user 'zed'"),
        (["replace", "team", "--user", "cat", "--instead-of", "ben", *WINDOW], "error: 'ben' is not primary"),
        (["replace", "team", "--user", "ann", "--instead-of", "ann", *WINDOW], "error: cannot replace 'ann'"),
        (
            [
                "swap",
                "team",
                "--user",
                "ben",
                "--at",
                INSIDE,
                "--with",
                "ann",
                "--at",
                "2026-03-09T12:00:00Z",
            ],
            "error: 'ben' is not primary of 'team' at 2026-03-08T12:00:00+00:00 ('ann' is)",
        ),
        (
            [
                "swap",
                "team",
                "--user",
                "ann",
                "--at",
                INSIDE,
                "--with",
                "ben",
                "--at",
                "2026-03-10T12:00:00Z",
            ],
            "error: 'ben' is not primary of 'team' at 2026-03-10T12:00:00+00:00 ('ann' is)",
        ),
        (["swap", "team", "--user", "ann", "--at", INSIDE, "--with", "ben"], "error: --at: give it twice"),
        (
            ["swap", "team", "--user", "ann", "--at", INSIDE, "--with", "zed", "--at", INSIDE],
            "error: no user 'zed'",
        ),
        (
            ["swap", "nope", "--user", "ann", "--at", INSIDE, "--with", "ben", "--at", INSIDE],
            "error: no schedule 'nope'",
        ),
    ],
)
def test_bad_overrides_are_refused_and_change_nothing(pager: Pager, args: list[str], message: str) -> None:
    add_team(pager)
    err = pager.error("override", *args)
    assert err.startswith(message), err
    assert pager.json("override", "list") == []
    assert pager.json("oncall", "team", "--at", INSIDE)["primary"] == "ann"


@pytest.mark.database
def test_check_require_coverage_sees_a_removal_that_leaves_a_gap(pager: Pager, config_dir: Path) -> None:
    (config_dir / "schedules" / "solo.yaml").write_text(
        "name: Solo\ntime_zone: UTC\nlayers:\n  - name: only\n    members: [ann]\n"
        "    start: 2026-01-05T09:00\n    shift: 1d\n",
        encoding="utf-8",
    )
    add_team(pager)
    start = "2026-03-08T00:00:00Z"
    gap = "solo.yaml:1: nobody is primary from 2026-03-08T10:00:00+00:00 to 2026-03-08T14:00:00+00:00"
    # The config's nights schedule has gaps of its own: only solo's lines matter here.
    code, _, before = pager("check", "--require-coverage", "--from", start)
    assert code == 1 and "solo.yaml" not in before
    pager.ok("override", "remove", "solo", "--user", "ann", *WINDOW)
    code, _, after = pager("check", "--require-coverage", "--from", start)
    assert code == 1 and gap in after


@pytest.mark.database
def test_override_list_current_leaves_out_the_overrides_already_over(pager: Pager) -> None:
    add_team(pager)
    pager.ok("override", "remove", "team", "--user", "ann", *WINDOW)  # March 2026: over
    later = ("--from", "2099-03-08T10:00:00Z", "--to", "2099-03-08T14:00:00Z")
    pager.ok("override", "remove", "team", "--user", "ben", *later)
    assert [o["user"] for o in pager.json("override", "list")] == ["ann", "ben"]
    assert [o["user"] for o in pager.json("override", "list", "--current")] == ["ben"]
    assert [o["user"] for o in pager.json("override", "list", "team", "--current")] == ["ben"]
    assert "ann" not in pager.ok("override", "list", "--current")
