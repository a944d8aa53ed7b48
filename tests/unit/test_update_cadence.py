"""The status-update cadence: due `update_every` after the last update (or the declaration) while the
incident is open with customer impact; never otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pager.core.update_cadence import next_update_due

DECLARED = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
EVERY = timedelta(minutes=30)


def due(status: str = "investigating", impact: bool = True, last: datetime | None = None) -> datetime | None:
    return next_update_due(
        status=status, customer_impact=impact, declared_at=DECLARED, last_update_at=last, update_every=EVERY
    )


def test_due_after_the_declaration_then_after_each_update() -> None:
    assert due() == DECLARED + EVERY
    assert due(last=DECLARED + timedelta(minutes=7)) == DECLARED + timedelta(minutes=37)


@pytest.mark.parametrize("status", ["investigating", "identified", "monitoring"])
def test_every_open_status_keeps_the_cadence(status: str) -> None:
    assert due(status) == DECLARED + EVERY


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_nothing_is_due_once_resolved(status: str) -> None:
    assert due(status) is None


def test_nothing_is_due_without_customer_impact_or_cadence() -> None:
    assert due(impact=False) is None
    assert (
        next_update_due(
            status="investigating",
            customer_impact=True,
            declared_at=DECLARED,
            last_update_at=None,
            update_every=None,
        )
        is None
    )
