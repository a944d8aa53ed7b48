"""Handled provider requests: a key is claimed once, and keys older than a cut-off are pruned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from pager.db.provider_requests import claim_request, prune_handled_requests
from pager.db.session import session_scope
from pager.db.tables import HandledProviderRequest

pytestmark = pytest.mark.database

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def stored(engine: Engine) -> dict[str, datetime]:
    with session_scope(engine, read_only=True) as session:
        rows = session.exec(select(HandledProviderRequest).order_by(col(HandledProviderRequest.request_key)))
        return {row.request_key: row.handled_at for row in rows}


def test_a_key_is_claimed_once(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert claim_request(session, "sms:SM1", T0)
        assert not claim_request(session, "sms:SM1", T0 + timedelta(seconds=1))  # same transaction
    with session_scope(engine) as session:
        assert not claim_request(session, "sms:SM1", T0 + timedelta(days=1))
        assert claim_request(session, "call:SM1", T0)
    assert stored(engine) == {"call:SM1": T0, "sms:SM1": T0}


def test_a_claim_rolled_back_leaves_the_key_free(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        assert claim_request(session, "sms:SM2", T0)
        raise RuntimeError("the action failed")
    with session_scope(engine) as session:
        assert claim_request(session, "sms:SM2", T0)


def test_keys_handled_before_the_cut_off_are_pruned(engine: Engine) -> None:
    with session_scope(engine) as session:
        for days in (0, 1, 2):
            claim_request(session, f"sms:{days}", T0 + timedelta(days=days))
    with session_scope(engine) as session:
        assert prune_handled_requests(session, T0 + timedelta(days=1)) == 1
        assert prune_handled_requests(session, T0 + timedelta(days=1)) == 0
    assert list(stored(engine)) == ["sms:1", "sms:2"]


def test_an_overlong_key_is_refused(engine: Engine) -> None:
    with session_scope(engine) as session, pytest.raises(ValueError):
        claim_request(session, "sms:" + "x" * 200, T0)
