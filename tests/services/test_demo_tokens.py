"""`pager demo` reuses the admin and calendar tokens it kept beside its database while they still work,
and prints the status page and the calendar feed."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pager.api.app import create_app
from pager.commands.demo import demo_banner, keep_tokens, read_kept_tokens
from pager.db.session import session_scope
from pager.services.demo import seed_demo
from pager.services.people.tokens import find_bearer, list_api_tokens, revoke_api_token
from tests.support import console_runtime

pytestmark = pytest.mark.database

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)


def test_a_second_run_reuses_the_kept_tokens_and_a_revoked_one_is_replaced(
    engine: Engine, tmp_path: Path
) -> None:
    runtime = console_runtime(engine, REPO)
    path = tmp_path / "pager-demo-tokens.json"
    first = seed_demo(runtime, NOW, read_kept_tokens(path))
    keep_tokens(path, first.tokens)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.minted_admin and first.tokens.admin and first.tokens.calendar

    second = seed_demo(runtime, NOW, read_kept_tokens(path))
    assert second.tokens == first.tokens and not second.minted_admin
    with session_scope(engine, read_only=True) as session:
        assert len(list_api_tokens(session)) == 1
    assert second.login_url is not None and second.login_url != ""

    bearer = find_bearer(engine, first.tokens.admin)
    assert bearer is not None
    with session_scope(engine) as session:
        revoke_api_token(session, bearer.id, NOW)
    third = seed_demo(runtime, NOW, read_kept_tokens(path))
    assert third.minted_admin and third.tokens.admin != first.tokens.admin
    assert third.tokens.calendar == first.tokens.calendar
    assert find_bearer(engine, third.tokens.admin or "") is not None


def test_the_banner_prints_the_status_page_the_calendar_feed_and_a_curl_without_dedup_key(
    engine: Engine,
) -> None:
    runtime = console_runtime(engine, REPO, public_url="http://127.0.0.1:8080")
    seeded = seed_demo(runtime, NOW)
    banner = demo_banner("http://127.0.0.1:8080", seeded)
    assert "status page: http://127.0.0.1:8080/status" in banner
    assert seeded.calendar_handle == "alice"
    assert (
        "alice's shifts as a calendar feed: webcal://127.0.0.1:8080/calendar/users/alice.ics?token=" in banner
    )
    assert f"admin API token (made now): {seeded.tokens.admin}" in banner
    assert "dedup_key" not in banner and "/v2/enqueue" in banner
    with TestClient(create_app(runtime, run_worker=False)) as client:  # the feed URL opens the feed
        feed = client.get((seeded.calendar_url or "").removeprefix("http://127.0.0.1:8080"))
    assert feed.status_code == 200 and "BEGIN:VCALENDAR" in feed.text
