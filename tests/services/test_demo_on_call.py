"""The on-call table `pager demo` prints first: the schedules, with the overrides stored in its database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pager.commands.demo import demo_on_call
from pager.core.model import Override
from pager.db.overrides import add_override
from pager.db.session import session_scope
from pager.services.demo import seed_demo
from tests.support import console_runtime

pytestmark = pytest.mark.database

REPO = Path(__file__).resolve().parents[2]
# Checkout turns weekly on Mondays at 09:00 Chicago time: on 2026-11-23 bob hands over to carol at
# 15:00 UTC, and alice is secondary.
NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)


def checkout_row(table: str) -> list[str]:
    return next(line.split() for line in table.splitlines() if line.startswith("checkout "))


def test_the_demo_table_applies_stored_overrides(engine: Engine) -> None:
    runtime = console_runtime(engine, REPO)
    seed_demo(runtime, NOW)
    before = demo_on_call(runtime, NOW)
    assert before.startswith(f"On call at 2026-11-23T14:30:00+00:00 (schedules in {REPO / 'schedules'})")
    row = checkout_row(before)
    assert row[2:4] == ["bob", "alice"] and row[-3:] == ["bob", "->", "carol"]
    assert "2026-11-23T15:00:00+00:00" in row
    two_hours = Override("checkout", "primary", NOW.replace(minute=0), NOW.replace(hour=16, minute=0), "dave")
    with session_scope(engine) as session:
        add_override(session, two_hours, now=NOW)
    after = checkout_row(demo_on_call(runtime, NOW))
    # dave holds primary until 16:00, then carol's week begins.
    assert after[2:4] == ["dave", "alice"]
    assert "2026-11-23T16:00:00+00:00" in after and after[-3:] == ["dave", "->", "carol"]
