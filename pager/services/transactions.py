"""How a request's use case meets the database: one call, one transaction, one thread.

HTTP routes run `work(session)` through one of these instead of holding a session for the length
of the request: the transaction (and, on SQLite, this process's writer lock) is taken and given
back inside one call on one thread, and is never held while the request waits for anything else.
Commands and the worker open their own `session_scope`; these are for the API edge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from pager.db.session import session_scope

T = TypeVar("T")


def read_only(engine: Engine, work: Callable[[Session], T]) -> T:
    """`work` in a read-only transaction (on SQLite it runs beside the writer, never behind it)."""
    with session_scope(engine, read_only=True) as session:
        return work(session)


def read_write(engine: Engine, work: Callable[[Session], T]) -> T:
    """`work` in a writing transaction, committed when it returns and rolled back if it raises."""
    with session_scope(engine) as session:
        return work(session)
