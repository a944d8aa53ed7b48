"""Commit hooks: called around each commit and rollback of the session they were added to, only."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlmodel import Session

from pager.db.commit_hooks import add_commit_hooks


class Recorder:
    def __init__(self, calls: list[str], name: str) -> None:
        self.calls, self.name = calls, name

    def before_commit(self) -> None:
        self.calls.append(f"{self.name}:before")

    def after_commit(self) -> None:
        self.calls.append(f"{self.name}:after")

    def after_rollback(self) -> None:
        self.calls.append(f"{self.name}:rollback")


def test_hooks_run_around_each_commit_and_rollback_of_their_session_in_order() -> None:
    engine = create_engine("sqlite://")
    calls: list[str] = []
    with Session(engine) as session, Session(engine) as other:
        add_commit_hooks(session, Recorder(calls, "a"))
        add_commit_hooks(session, Recorder(calls, "b"))
        session.execute(text("SELECT 1"))
        session.commit()
        assert calls == ["a:before", "b:before", "a:after", "b:after"]
        other.execute(text("SELECT 1"))
        other.commit()  # another session's commit calls none of them
        other.execute(text("SELECT 1"))
        other.rollback()
        assert len(calls) == 4
        session.execute(text("SELECT 1"))
        session.rollback()
        assert calls[4:] == ["a:rollback", "b:rollback"]
        session.execute(text("SELECT 1"))
        session.commit()  # still registered: a session that goes on after a commit is still covered
        assert calls[6:] == ["a:before", "b:before", "a:after", "b:after"]
