"""`is_postgres` answers for every kind of bind the code hands it, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from pager.db.session import is_postgres
from tests.database_fixtures import backend_of

pytestmark = pytest.mark.database


def test_is_postgres_answers_for_sessions_engines_and_connections(engine: Engine) -> None:
    expected = backend_of(engine.url.render_as_string(hide_password=False)) == "postgresql"
    assert is_postgres(engine) is expected
    with engine.connect() as connection:
        assert is_postgres(connection) is expected
    # SQLModel's session, and SQLAlchemy's own (the class SQLModel's derives from).
    with Session(engine) as session, OrmSession(engine) as plain:
        assert is_postgres(session) is expected
        assert is_postgres(plain) is expected
