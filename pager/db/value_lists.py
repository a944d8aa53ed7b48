"""A column compared with a list of values given at execution, in a statement built once.

SQLAlchemy's `in_` with an expanding parameter renders the statement's text again at every
execution (one placeholder per value): on the delivery claim's path, which runs such a statement
several times per claim, that rendering and the per-call construction of the statement were a fifth
of a claim's CPU. On Postgres `= ANY(:values)` takes the whole list as one array parameter, so the
text never changes: compiled once, and prepared once by psycopg. The planner treats `IN (…)` as the
same `= ANY(…)`, so the plans are the ones the IN lists had (tests/db/test_outbox_query_plans.py).
SQLite has no arrays: there the expanding IN stays.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY


def among(column: ColumnElement[Any], name: str, *, postgres: bool) -> ColumnElement[bool]:
    """`column` is one of the values bound as `name` (a list at execution)."""
    if postgres:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))
