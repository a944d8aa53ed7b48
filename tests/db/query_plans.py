"""Asking a database's planner how it would run the statements pager sends (both backends).

`statements` records what the engine sends; `plan` asks whether an index *can* serve a statement
(Postgres told to avoid sequential scans, as on tiny test tables every plan costs the same); `plans`
asks what the planner *will* do, as the server would choose (no setting changed; on Postgres the
plan for the values sent and the generic plan a prepared statement settles on, which psycopg's
prepared statements keep until the table's statistics change).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from psycopg.sql import Literal
from sqlalchemy import Engine, event


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every (SQL, parameters) the engine sends meanwhile."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def gather_statistics(engine: Engine) -> None:
    """Gather the planner's statistics of every table (SQLite gathers none by itself)."""
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()


def sent_by(engine: Engine, read: Callable[[], object], marker: str) -> list[tuple[str, Any]]:
    """The statements (SQL, parameters) that `read` sends containing `marker` (at least one)."""
    with statements(engine) as sent:
        read()
    matching = [(sql, params) for sql, params in sent if marker in sql]
    assert matching, sent
    return matching


def plan(engine: Engine, statement: str, parameters: Any) -> str:
    """The planner's plan for `statement` as text (Postgres told to prefer an index to a seq scan,
    since these test tables are tiny: the question is whether the index can serve the query)."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            return "\n".join(str(row[-1]) for row in rows)
        connection.exec_driver_sql("SET enable_seqscan = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
        return "\n".join(str(row[0]) for row in rows)


def plans(engine: Engine, statement: str, parameters: Any, explain: str = "EXPLAIN") -> list[str]:
    """The planner's plans for `statement`: for these values, and on Postgres the generic plan too
    (`explain` is the Postgres command: EXPLAIN (ANALYZE, FORMAT JSON) runs it, see `rows_read`)."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            first = parameters[0] if isinstance(parameters, list) else parameters
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", first).all()
            return ["\n".join(str(row[-1]) for row in rows)]
        custom = connection.exec_driver_sql(f"{explain} {statement}", parameters).all()
        # PREPARE takes $n placeholders: each named parameter becomes one, in order of appearance.
        names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
        numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", statement)
        connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        connection.exec_driver_sql(f"PREPARE planned AS {numbered}")
        # EXECUTE's arguments are not bound parameters: the values go as literals, quoted by psycopg.
        driver = connection.connection.driver_connection
        arguments = ", ".join(Literal(parameters[name]).as_string(driver) for name in names)
        generic = connection.exec_driver_sql(f"{explain} EXECUTE planned({arguments})").all()
        connection.exec_driver_sql("DEALLOCATE planned")  # a session's, whatever the transaction
        connection.rollback()
    # A JSON plan comes parsed (psycopg decodes json): given back as JSON text.
    return [
        "\n".join(row[0] if isinstance(row[0], str) else json.dumps(row[0]) for row in found)
        for found in (custom, generic)
    ]


def rows_read(engine: Engine, statement: str, parameters: Any, table: str) -> list[int]:
    """Postgres only: how many rows of `table` the statement's plans (custom and generic) read when
    run, the rows they return and those their filters threw away."""
    assert engine.dialect.name == "postgresql"

    def read(node: dict[str, Any]) -> int:
        own = 0
        if node.get("Relation Name") == table:
            kept = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            own = (kept + node.get("Rows Removed by Index Recheck", 0)) * node["Actual Loops"]
        return own + sum(read(child) for child in node.get("Plans", []))

    analyzed = plans(engine, statement, parameters, "EXPLAIN (ANALYZE, FORMAT JSON)")
    return [read(json.loads(text)[0]["Plan"]) for text in analyzed]
