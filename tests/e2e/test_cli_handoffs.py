"""`pager handoff-note SCHEDULE TEXT [--role]` as users run it (docs/cli.md): stored for the next
handoff of that role, a second note replacing the first; bad input changes nothing."""

from __future__ import annotations

import pytest
from sqlmodel import select

from pager.db.session import create_db_engine, session_scope
from pager.db.tables import HandoffNote
from tests.e2e import test_cli_engine as engine_cli
from tests.e2e.test_cli_engine import Pager

db_url = engine_cli.db_url
config_dir = engine_cli.config_dir
pager = engine_cli.pager

pytestmark = [pytest.mark.e2e, pytest.mark.database]


def notes(pager: Pager) -> list[tuple[str, str, str]]:
    engine = create_db_engine(pager.url)
    try:
        with session_scope(engine, read_only=True) as session:
            rows = session.exec(select(HandoffNote).order_by(HandoffNote.role))  # type: ignore[arg-type]
            return [(row.schedule_id, row.role, row.text) for row in rows]
    finally:
        engine.dispose()


def test_a_note_is_stored_per_role_and_a_second_one_replaces_it(pager: Pager) -> None:
    out = pager.ok("handoff-note", "team", "DB failover on Tuesday")
    assert out.strip() == "note stored for the next primary handoff of team (22 characters)"
    pager.ok("handoff-note", "team", "Failover moved to Wednesday")
    pager.ok("handoff-note", "team", "--role", "secondary", "Pager test at noon")
    assert notes(pager) == [
        ("team", "primary", "Failover moved to Wednesday"),
        ("team", "secondary", "Pager test at noon"),
    ]


def test_bad_input_is_an_error_and_changes_nothing(pager: Pager) -> None:
    assert pager.error("handoff-note", "nope", "hello") == "error: no schedule 'nope'\n"
    assert "role must be primary or secondary" in pager.error("handoff-note", "team", "--role", "third", "x")
    assert pager.error("handoff-note", "team", "   ") == "error: the note is empty\n"
    assert notes(pager) == []
