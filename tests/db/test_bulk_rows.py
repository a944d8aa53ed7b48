"""pager.db.bulk_rows hands the driver exactly what SQLAlchemy's own execution would.

`execute_rows` skips SQLAlchemy's per-row bookkeeping and converts bind values itself, with the bind
processors it asks SQLAlchemy for. If a SQLAlchemy upgrade converts values differently (an instant
of a UTCDateTime column, a JSON document), this test names the version and fails before a single
page is written wrongly.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlmodel import Session, SQLModel

from pager.db.bulk_rows import execute_rows
from pager.db.columns import UTCDateTime
from pager.db.session import session_scope

PARIS = timezone(timedelta(hours=2))
ROWS: list[dict[str, Any]] = [
    {
        "new_id": 1,
        "new_summary": "Disk full",
        "new_next_action_at": datetime(2026, 3, 8, 9, 30, 15, 250, tzinfo=PARIS),
        "new_escalation_state": {
            "status": "triggered",
            "pages": [{"users": ["ann"]}],
            "big": 2**40,
            "é": "ü",
        },
        "new_updated_at": datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
    },
    {
        "new_id": 2,
        "new_summary": "CPU high",
        "new_next_action_at": None,
        "new_escalation_state": {"levels": [1, 2.5, None, True], "text": 'quote " and \\ backslash'},
        "new_updated_at": datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
    },
]


def alerts_update() -> Any:
    """An UPDATE of a UTCDateTime column and a JSON column, as the engine's batch writes send them."""
    table = SQLModel.metadata.tables["alerts"]
    columns = ("summary", "next_action_at", "escalation_state", "updated_at")
    values = {name: bindparam(f"new_{name}", type_=table.c[name].type) for name in columns}
    return update(table).where(table.c.id == bindparam("new_id")).values(values)


def comparable(value: Any) -> Any:
    """A bound value as the driver will see it: instants with their offset, psycopg's JSON wrappers
    (what SQLAlchemy binds a JSONB value as) by what they wrap."""
    if isinstance(value, datetime):
        return ("datetime", value.isoformat())
    if type(value).__module__.startswith("psycopg") and hasattr(value, "obj"):
        return (type(value).__name__, value.obj)
    return value


def driver_rows(parameters: Any) -> list[Any]:
    rows = parameters if isinstance(parameters, list) else [parameters]
    return [
        {key: comparable(v) for key, v in row.items()}
        if isinstance(row, dict)
        else tuple(comparable(v) for v in row)
        for row in rows
    ]


@pytest.mark.database
def test_execute_rows_binds_exactly_what_sqlalchemy_binds(engine: Engine) -> None:
    sent: list[tuple[str, list[Any]]] = []

    def capture(_conn: Any, _cursor: Any, sql: str, parameters: Any, _context: Any, _many: bool) -> None:
        if sql.lstrip().upper().startswith("UPDATE ALERTS"):
            sent.append((sql, driver_rows(parameters)))

    statement = alerts_update()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with session_scope(engine) as session:
            for row in ROWS:  # SQLAlchemy's own execution, one row at a time
                session.connection().execute(statement, row)
            execute_rows(session, statement, ROWS)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(sent) == len(ROWS) + 1
    theirs_sql = {sql for sql, _ in sent[:-1]}
    theirs = [row for _, rows in sent[:-1] for row in rows]
    ours_sql, ours = sent[-1]
    problem = (
        f"SQLAlchemy {sqlalchemy.__version__} binds these values differently from "
        "pager.db.bulk_rows.execute_rows: check _bind_processor in pager/db/bulk_rows.py against "
        "how this SQLAlchemy version processes bind parameters"
    )
    assert theirs_sql == {ours_sql}, problem
    assert ours == theirs, problem
    # The conversions themselves happened: an instant went to UTC, a document to the driver's form.
    assert ROWS[0]["new_escalation_state"] not in [value for row in ours for value in _values(row)]


def _values(row: Any) -> list[Any]:
    return list(row.values()) if isinstance(row, dict) else list(row)


def _upsert_with_limits(tmp_path: Path, limits: dict[int, int]) -> list[tuple[str, bool]]:
    """Upsert 25 rows (key k5 twice, the later one wins) on a SQLite connection with `limits` set;
    check they are stored, converted and upserted exactly as row by row; return the executions."""
    tmp_path.mkdir(exist_ok=True)
    engine = create_engine(f"sqlite:///{tmp_path / 'values.db'}")
    table = Table(
        "t",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("key", String, unique=True),
        Column("at", UTCDateTime),
        Column("n", Integer),
    )
    table.metadata.create_all(engine)
    statement = sqlite.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=["key"], set_={"n": statement.excluded.n}, where=table.c.n != -1
    )
    at = datetime(2026, 3, 8, 9, 30, tzinfo=PARIS)
    rows = [{"key": f"k{i}", "at": at + timedelta(minutes=i % 3), "n": i} for i in range(24)]
    rows.append({"key": "k5", "at": at, "n": 99})  # the same key again, later in the batch: it wins
    executions: list[tuple[str, bool]] = []

    def capture(_conn: Any, _cursor: Any, sql: str, _parameters: Any, _context: Any, many: bool) -> None:
        executions.append((sql, many))

    with Session(engine) as session:
        raw = session.connection().connection.dbapi_connection
        assert raw is not None
        defaults = {limit: raw.setlimit(limit, value) for limit, value in limits.items()}
        event.listen(engine, "before_cursor_execute", capture)
        execute_rows(session, statement, rows)
        event.remove(engine, "before_cursor_execute", capture)
        session.commit()
        for limit, value in defaults.items():
            raw.setlimit(limit, value)

    with engine.connect() as connection:
        stored = connection.execute(table.select().order_by(table.c.id)).all()
    assert [(row.key, row.n) for row in stored] == [(f"k{i}", 99 if i == 5 else i) for i in range(24)]
    assert [row.at for row in stored] == [(at + timedelta(minutes=i % 3)).astimezone(UTC) for i in range(24)]
    assert not any(many for _, many in executions)
    return executions


def test_sqlite_inserts_go_as_values_lists_within_the_variable_limit(tmp_path: Path) -> None:
    """On SQLite an INSERT's rows go as multi-row VALUES lists, one execution per list (not one per
    row), each within the connection's bound-parameter limit, with the ON CONFLICT clause's own
    constant bound once per list; rows stored, converted and upserted exactly as row by row."""
    executions = _upsert_with_limits(tmp_path, {sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 30})
    # 3 a row + 1 constant: 9 rows a list
    assert [sql.count("(?, ?, ?)") for sql, _ in executions] == [9, 9, 7]


def test_sqlite_values_lists_stay_within_the_statement_length_limit(tmp_path: Path) -> None:
    """A build may raise SQLite's bound-parameter limit (32,766 by default) without its statement
    length (1,000,000 bytes), and a list of that many rows can outgrow it (Debian's build raises
    both: 250,000 and 10^9): each list holds as many rows as both limits allow, to the byte, and
    SQLite takes it."""
    variables = sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER
    five_rows = _upsert_with_limits(tmp_path / "variables", {variables: 16})  # 3 a row + 1: 5 rows
    assert [sql.count("(?, ?, ?)") for sql, _ in five_rows] == [5, 5, 5, 5, 5]
    exact = len(five_rows[0][0])
    length = sqlite3.SQLITE_LIMIT_SQL_LENGTH
    at_the_limit = _upsert_with_limits(tmp_path / "exact", {length: exact})
    assert [sql for sql, _ in at_the_limit] == [sql for sql, _ in five_rows]
    one_byte_short = _upsert_with_limits(tmp_path / "short", {length: exact - 1})
    assert [sql.count("(?, ?, ?)") for sql, _ in one_byte_short] == [4] * 6 + [1]
    assert all(len(sql) < exact for sql, _ in one_byte_short)
