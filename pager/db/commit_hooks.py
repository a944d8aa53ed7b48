"""Work that must happen around a session's commit, registered per session but heard per class.

The engine's writer buffers rows and writes them just before the transaction commits, and observes
response-time metrics once it has. Listening on the session instance (`event.listen(session, …)`)
made SQLAlchemy build a dispatcher for each session: ~8 µs per event, three events, paid by every
trigger request. Here one listener per event is installed on the Session class, once, and reads the
hooks of the session at hand from `session.info`.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session

_HOOKS = "pager_commit_hooks"


class CommitHooks(Protocol):
    """What a session calls around its commits, for as long as it lives."""

    def before_commit(self) -> None:
        """The transaction is about to commit: write what is buffered."""

    def after_commit(self) -> None:
        """The transaction committed."""

    def after_rollback(self) -> None:
        """The transaction rolled back."""


def add_commit_hooks(session: Session, hooks: CommitHooks) -> None:
    """Call `hooks` around every commit and rollback of `session`, in the order they were added."""
    session.info.setdefault(_HOOKS, []).append(hooks)


def _hooks_of(session: Session) -> list[CommitHooks]:
    # Copied: a hook may add another (a writer created while flushing).
    return list(session.info.get(_HOOKS, ()))


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    for hooks in _hooks_of(session):
        hooks.before_commit()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for hooks in _hooks_of(session):
        hooks.after_commit()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    for hooks in _hooks_of(session):
        hooks.after_rollback()
