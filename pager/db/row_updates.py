"""Rows of one table changed in as few statements as the changes allow, and one row added unless a
unique constraint says another transaction stored it first.

The bulk updates serve the hot batches (escalation decisions, delivery claims and outcomes) on the
`alerts` and `outbox` tables. The caller owns the session and its transaction.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import Table, any_, bindparam, cast, func, literal_column, update
from sqlalchemy import select as sql_select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from pager.db.bulk_rows import execute_records, execute_rows, recordset
from pager.db.session import is_postgres

Row = TypeVar("Row", bound=SQLModel)


def update_rows(session: Session, model: type[SQLModel], changes: list[dict[str, Any]]) -> None:
    """Set columns of many rows of `model`'s table, in order: each change is `{"id": …, column: value,
    …}`; consecutive changes of the same columns go in one executemany."""
    table = model.metadata.tables[str(model.__tablename__)]
    postgres = is_postgres(session)
    runs: list[tuple[tuple[str, ...], list[dict[str, Any]], set[Any]]] = []
    for change in changes:
        columns = tuple(change)
        # On Postgres a run is one UPDATE … FROM jsonb_to_recordset(…), which sets a row at most once.
        if not runs or runs[-1][0] != columns or (postgres and change["id"] in runs[-1][2]):
            runs.append((columns, [], set()))
        runs[-1][1].append(change)
        runs[-1][2].add(change["id"])
    for columns, rows, _ids in runs:
        if postgres:
            execute_records(session, _records_update(table, columns), rows)
        else:
            names = tuple(f"new_{name}" for name in columns)
            renamed = [dict(zip(names, row.values(), strict=True)) for row in rows]
            execute_rows(session, _row_update(table, columns), renamed)


@lru_cache(maxsize=32)
def _records_update(table: Table, columns: tuple[str, ...]) -> Any:
    rows = recordset(table, columns)
    # The planner takes jsonb_to_recordset for 100 rows whatever it holds (one to a few hundred):
    # joined on that alone, the update read the whole table (a hash join on a sequential scan) until
    # the table passed ~15,000 rows, with statistics or without. The ids as an array, read from the
    # same parameter, make it fetch its rows by primary key (tests/db/test_bulk_update_plans.py).
    element = func.jsonb_array_elements(bindparam("rows", type_=JSONB)).column_valued("element")
    ids = sql_select(cast(element.op("->>")(literal_column("'id'")), table.c.id.type)).scalar_subquery()
    return (
        update(table)
        .where(table.c.id == rows.c.id, table.c.id == any_(func.array(ids)))
        .values({n: rows.c[n] for n in columns if n != "id"})
    )


@lru_cache(maxsize=32)
def _row_update(table: Table, columns: tuple[str, ...]) -> Any:
    # Bind names differ from column names: SQLAlchemy reserves those for its own SET parameters.
    return (
        update(table)
        .where(table.c.id == bindparam("new_id"))
        .values({n: bindparam(f"new_{n}", type_=table.c[n].type) for n in columns if n != "id"})
    )


def add_unless_taken(session: Session, row: Row) -> Row | None:
    """Insert `row` in a savepoint; None (and the caller's transaction unharmed) when a unique
    constraint says another transaction stored it first."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row
