"""Console logins: signed, expiring, single-use links; emailed links through the outbox; token logins;
sessions that end when their token is revoked or their person deactivated."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from pager.services.console.login import (
    email_login_link,
    link_token,
    redeem_login_link,
    token_login,
    token_login_url,
)
from pager.services.console.sessions import (
    anonymous_session,
    csrf_matches,
    seal,
    unseal,
    visitor_of,
)
from pager.services.operations.housekeeping import USED_LOGIN_LINK_RETENTION, prune_expired
from pager.services.people.edits import set_active
from pager.services.people.tokens import create_api_token, revoke_api_token
from pager.services.people.users import add_user

pytestmark = pytest.mark.database

KEY = "console-test-secret-key-" + "c" * 16
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
URL = "https://pager.example.com"


def _people(engine: Engine) -> tuple[int, int]:
    """Ann (verified email) and Bob (an unverified one); their ids."""
    with session_scope(engine) as session:
        ann = add_user(session, handle="ann", name="Ann", now=NOW, email="ann@example.com", verified=True)
        bob = add_user(session, handle="bob", name="Bob", now=NOW, email="bob@example.com", verified=False)
        assert ann.id is not None and bob.id is not None
        return ann.id, bob.id


def _emails(engine: Engine) -> list[OutboxMessage]:
    with session_scope(engine, read_only=True) as session:
        return list(session.exec(select(OutboxMessage).where(OutboxMessage.method == "email")))


def test_a_link_logs_its_person_in_once_as_responder(engine: Engine) -> None:
    ann, _ = _people(engine)
    token = link_token(KEY, NOW, user_id=ann)
    session = redeem_login_link(engine, KEY, token, NOW + timedelta(minutes=14))
    assert session is not None and session.role == "responder" and session.user_id == ann
    assert redeem_login_link(engine, KEY, token, NOW + timedelta(minutes=14)) is None


def test_a_link_expires_after_15_minutes_and_a_forged_one_never_works(engine: Engine) -> None:
    ann, _ = _people(engine)
    assert (
        redeem_login_link(engine, KEY, link_token(KEY, NOW, user_id=ann), NOW + timedelta(minutes=15)) is None
    )
    assert (
        redeem_login_link(engine, KEY, link_token("another-key-" + "x" * 24, NOW, user_id=ann), NOW) is None
    )
    assert redeem_login_link(engine, KEY, "not-a-token", NOW) is None
    # A refused link was not used up: the same link, in time, still works.
    fresh = link_token(KEY, NOW, user_id=ann)
    assert redeem_login_link(engine, KEY, fresh, NOW + timedelta(hours=1)) is None
    assert redeem_login_link(engine, KEY, fresh, NOW) is not None


def test_a_deactivated_persons_link_does_not_log_in(engine: Engine) -> None:
    ann, _ = _people(engine)
    token = link_token(KEY, NOW, user_id=ann)
    with session_scope(engine) as session:
        set_active(session, "ann", False, NOW)
    assert redeem_login_link(engine, KEY, token, NOW) is None


def test_the_demo_link_logs_in_with_its_tokens_role_until_the_token_is_revoked(engine: Engine) -> None:
    with session_scope(engine) as session:
        row, _ = create_api_token(session, role="admin", name="demo", now=NOW)
        assert row.id is not None
        token_id = row.id
    url = token_login_url(KEY, URL, token_id, NOW)
    assert url.startswith(f"{URL}/login/link?token=")
    session = redeem_login_link(engine, KEY, unquote(url.split("token=", 1)[1]), NOW)
    assert session is not None and session.role == "admin" and session.token_id == token_id
    visitor = visitor_of(engine, session)
    assert visitor is not None and visitor.actor == "console:demo" and visitor.bearer.role == "admin"
    with session_scope(engine) as db:
        revoke_api_token(db, token_id, NOW)
    assert visitor_of(engine, session) is None


def test_an_emailed_link_goes_to_verified_addresses_only_and_nobody_else_learns_anything(
    engine: Engine,
) -> None:
    _people(engine)
    email_login_link(engine, KEY, URL, "bob", NOW)  # no verified email
    email_login_link(engine, KEY, URL, "nobody", NOW)  # no such person
    assert _emails(engine) == []
    email_login_link(engine, KEY, URL, "ann", NOW)
    (sent,) = _emails(engine)
    assert sent.address == "ann@example.com" and sent.alert_id is None and sent.status == "pending"
    link = re.search(r"https://pager\.example\.com/login/link\?token=(\S+)", sent.body)
    assert link is not None
    session = redeem_login_link(engine, KEY, unquote(link.group(1)), NOW + timedelta(minutes=5))
    assert session is not None and session.role == "responder"


def test_a_token_login_has_the_tokens_role(engine: Engine) -> None:
    with session_scope(engine) as session:
        _, viewer = create_api_token(session, role="viewer", name="wall", now=NOW)
    session = token_login(engine, viewer, NOW)
    assert session is not None and session.role == "viewer"
    assert token_login(engine, "pgr_unknown", NOW) is None


def test_a_session_cookie_is_signed_and_expires() -> None:
    session = replace(anonymous_session(NOW), role="viewer", token_id=3)
    sealed = seal(KEY, session)
    assert unseal(KEY, sealed, NOW + timedelta(hours=11)) == session
    assert unseal(KEY, sealed, NOW + timedelta(hours=12)) is None
    assert unseal("another-key-" + "x" * 24, sealed, NOW) is None
    assert unseal(KEY, sealed[:-2] + "xx", NOW) is None
    assert csrf_matches(session, session.csrf)
    assert not csrf_matches(session, None) and not csrf_matches(session, session.csrf + "x")


def test_housekeeping_forgets_used_links_after_a_day_when_they_have_long_expired(engine: Engine) -> None:
    ann, _ = _people(engine)
    assert redeem_login_link(engine, KEY, link_token(KEY, NOW, user_id=ann), NOW) is not None
    assert prune_expired(engine, NOW + USED_LOGIN_LINK_RETENTION) == 0
    assert prune_expired(engine, NOW + USED_LOGIN_LINK_RETENTION + timedelta(seconds=1)) == 1
