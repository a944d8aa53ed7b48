"""The reads and writes of an alert trigger (ingest's hot path), as plain statements built once.

Each statement is constructed and compiled once per process, so a request only executes it; rows
come back as plain values. The caller owns the session and its transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, insert, literal_column, text, update
from sqlalchemy import select as sql_select
from sqlmodel import Session, SQLModel

from pager.core.maintenance import AdHocWindow
from pager.db.bulk_rows import execute_records, recordset
from pager.db.session import is_postgres
from pager.db.tables import Alert, ContactKind, MaintenanceWindowRow, Service

ServiceColumns = tuple[str, str, str, str | None]  # id, name, policy_id, runbook


@dataclass(frozen=True)
class OpenAlert:
    """What a repeated trigger reads of the open alert it counts into: plain values."""

    id: int
    summary: str
    details: dict[str, Any]
    escalation_state: dict[str, Any]


def find_service_columns(
    session: Session, *, service_id: str | None = None, key: str | None = None
) -> ServiceColumns | None:
    """(id, name, policy_id, runbook) of the service with this id, or holding this integration key
    (pass one); None when there is none."""
    if (service_id is None) == (key is None):
        raise ValueError("pass exactly one of service_id and key")
    column, value = ("id", service_id) if service_id is not None else ("integration_key", key)
    row = session.connection().execute(_service_query(column), {"value": value}).first()
    return None if row is None else (row.id, row.name, row.policy_id, row.runbook)


@lru_cache(maxsize=2)
def _service_query(column: str) -> Any:
    c = Service.metadata.tables["services"].c
    return sql_select(c.id, c.name, c.policy_id, c.runbook).where(c[column] == bindparam("value"))


def find_service_and_windows(
    session: Session, instant: datetime, *, service_id: str | None = None, key: str | None = None
) -> tuple[ServiceColumns, list[AdHocWindow]] | None:
    """`find_service_columns` and, in the same statement, the service's maintenance windows that end
    after `instant`, earliest first (a trigger reads the hold on its service when it opens an alert)."""
    if (service_id is None) == (key is None):
        raise ValueError("pass exactly one of service_id and key")
    column, value = ("id", service_id) if service_id is not None else ("integration_key", key)
    rows = session.connection().execute(_service_windows_query(column), {"value": value, "instant": instant})
    first, windows = None, []
    for row in rows:
        first = first or row
        if row.window_id is not None:
            windows.append(AdHocWindow(row.window_id, row.start_at, row.end_at, row.reason))
    if first is None:
        return None
    return (first.id, first.name, first.policy_id, first.runbook), windows


@lru_cache(maxsize=2)
def _service_windows_query(column: str) -> Any:
    c = Service.metadata.tables["services"].c
    w = MaintenanceWindowRow.metadata.tables["maintenance_windows"].c
    ending_later = and_(w.service_id == c.id, w.end_at > bindparam("instant", type_=w.end_at.type))
    return (
        sql_select(
            c.id, c.name, c.policy_id, c.runbook, w.id.label("window_id"), w.start_at, w.end_at, w.reason
        )
        .select_from(Service.metadata.tables["services"].outerjoin(w.service_id.table, ending_later))
        .where(c[column] == bindparam("value"))
        .order_by(w.start_at, w.id)
    )


# The class of the two-part advisory locks a group of triggers takes on its dedup keys (the two-part
# key space does not meet the one-part one of the claim and auto-declare locks).
DEDUP_LOCK_CLASS = 0x7061  # "pa"


def lock_dedup_keys(session: Session, dedup_keys: Collection[str]) -> None:
    """Postgres: lock `dedup_keys` until commit, in sorted order, before a group of triggers touches
    any alert row.

    The triggers of a group then lock rows (the open alert, or the unique index on a new one) in
    arrival order, which two API processes given the same keys in other orders would do crosswise:
    a deadlock, a second lost, the group redone one by one. Taken in one sorted order up front,
    two groups sharing keys queue on the first of them instead. Different keys hashing alike only
    queue. SQLite needs nothing: its writer is one at a time.
    """
    if not is_postgres(session) or len(dedup_keys) < 2:
        return
    session.connection().execute(_dedup_lock_query(), {"keys": sorted(set(dedup_keys))})


@lru_cache(maxsize=1)
def _dedup_lock_query() -> Any:
    # The keys come sorted; OFFSET 0 keeps the ordered subquery from being flattened, so the locks
    # are taken row by row in that order (a lock function in a sorted SELECT's own list may run first).
    return text(
        "SELECT pg_advisory_xact_lock(:lock_class, hashtext(s.key)) FROM (SELECT k.key"
        " FROM unnest(CAST(:keys AS text[])) WITH ORDINALITY AS k(key, n) ORDER BY k.n OFFSET 0) AS s"
    ).bindparams(lock_class=DEDUP_LOCK_CLASS)


def lock_open_alert(session: Session, service_id: str, dedup_key: str) -> OpenAlert | None:
    """The open (not resolved) alert for this dedup key, its row locked until commit."""
    params = {"service_id": service_id, "dedup_key": dedup_key}
    row = session.connection().execute(_open_alerts_by_key(many=False), params).first()
    return None if row is None else OpenAlert(row.id, row.summary, row.details, row.escalation_state)


def lock_open_alerts(session: Session, service_id: str, dedup_keys: Collection[str]) -> dict[str, OpenAlert]:
    """`lock_open_alert` for many dedup keys of one service in one statement: the open alerts found,
    by dedup key, their rows locked until commit (on Postgres, after `lock_dedup_keys`)."""
    if len(dedup_keys) == 1:  # a group across many services: the statement without an IN list to
        # render at each execution (SQLAlchemy's expanding parameters are)
        (key,) = dedup_keys
        found = lock_open_alert(session, service_id, key)
        return {} if found is None else {key: found}
    params = {"service_id": service_id, "dedup_keys": list(dedup_keys)}
    rows = session.connection().execute(_open_alerts_by_key(many=True), params)
    return {row.dedup_key: OpenAlert(row.id, row.summary, row.details, row.escalation_state) for row in rows}


@lru_cache(maxsize=2)
def _open_alerts_by_key(many: bool) -> Any:
    """The open alerts of one service with one dedup key (`:dedup_key`) or any of many
    (`:dedup_keys`), their rows locked: one builder, so the two can never differ in lock mode or in
    the condition that lets the planner use the open-alert partial index."""
    c = Alert.metadata.tables["alerts"].c
    key_condition: ColumnElement[bool]
    if many:
        # Not `among`'s one array parameter on Postgres: that measured ~8 % fewer new alerts a second
        # in bench/ingest.py's Postgres pass (bench/README.md), for a cause not found.
        key_condition = c.dedup_key.in_(bindparam("dedup_keys", expanding=True))
    else:
        key_condition = c.dedup_key == bindparam("dedup_key")
    # 'resolved' inline, not a bound value: the planner can then prove the open-alert partial index
    # (uq_alerts_open_dedup_key) applies, also to a generic plan of a prepared statement on Postgres.
    open_status = c.status != literal_column("'resolved'")
    return (
        sql_select(c.dedup_key, c.id, c.summary, c.details, c.escalation_state)
        .where(c.service_id == bindparam("service_id"), key_condition, open_status)
        .with_for_update(key_share=True)
    )


def insert_alerts(session: Session, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """`insert_alert` for many rows in one statement (each names `service_id` and `dedup_key`, a pair
    no open alert and no other row has): the new ids by (service id, dedup key)."""
    if not rows:
        return {}
    values = [_alert_values(columns) for columns in rows]
    if is_postgres(session):
        # One JSON document, not 19 parameters a row: psycopg's conversion of those was most of the
        # insert's CPU (as for the outbox and timeline writes, pager.db.bulk_rows.recordset).
        found = execute_records(session, _alerts_insert_records(tuple(values[0])), values)
        assert found is not None
    else:
        found = session.connection().execute(_alerts_insert(), values)
    return {(row.service_id, row.dedup_key): row.id for row in found}


# The rows come back in no promised order (SQLAlchemy's sort_by_parameter_order would, on SQLite, run
# one statement per row), so each names its own (service id, dedup key). They are inserted in the
# order given (VALUES; on Postgres, the JSON array as its function scan returns it), so their ids are
# those one insert after another would get.
@lru_cache(maxsize=1)
def _alerts_insert() -> Any:
    # One INSERT … VALUES (…), (…) RETURNING (SQLAlchemy's "insertmanyvalues").
    table = Alert.metadata.tables["alerts"]
    return insert(table).returning(table.c.id, table.c.service_id, table.c.dedup_key)


@lru_cache(maxsize=2)
def _alerts_insert_records(columns: tuple[str, ...]) -> Any:
    table = Alert.metadata.tables["alerts"]
    return (
        insert(table)
        .from_select(columns, sql_select(recordset(table, columns)))
        .returning(table.c.id, table.c.service_id, table.c.dedup_key)
    )


def insert_alert(session: Session, **columns: Any) -> int:
    """Insert an alert row, `columns` over the model's defaults (without building a model object, which
    costs more than the insert); the new row's id."""
    new_id: int = session.connection().execute(_alert_insert(), _alert_values(columns)).scalar_one()
    return new_id


def _alert_values(columns: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in Alert.model_fields.items():
        if name in columns:
            values[name] = columns[name]
        elif name == "id":
            continue
        elif field.default_factory is not None:
            values[name] = field.default_factory()  # type: ignore[call-arg]
        elif field.is_required():
            raise TypeError(f"insert_alert needs {name!r}")
        else:
            values[name] = field.default
    return values


@lru_cache(maxsize=1)
def _alert_insert() -> Any:
    table = Alert.metadata.tables["alerts"]
    return insert(table).returning(table.c.id)


def count_repeated_trigger(
    session: Session,
    alert_id: int,
    now: datetime,
    details: dict[str, Any] | None = None,
    *,
    times: int = 1,
) -> None:
    """`times` more events for an open alert (`event_count` + `times`), the latest at `now`, with
    its new `details` when given."""
    params: dict[str, Any] = {"alert_id": alert_id, "new_updated_at": now, "times": times}
    if details is not None:
        params["new_details"] = details
    session.connection().execute(_repeat_update(details is not None), params)


@lru_cache(maxsize=2)
def _repeat_update(with_details: bool) -> Any:
    table = Alert.metadata.tables["alerts"]
    values: dict[str, Any] = {
        "event_count": table.c.event_count + bindparam("times", type_=table.c.event_count.type),
        "updated_at": bindparam("new_updated_at", type_=table.c.updated_at.type),
    }
    if with_details:
        values["details"] = bindparam("new_details", type_=table.c.details.type)
    return update(table).where(table.c.id == bindparam("alert_id")).values(values)


# --- who a decision pages: read per trigger, so plain statements too --------------------------------


@dataclass(frozen=True)
class PersonRows:
    """What a decision reads of one user: id, whether deactivated, verified contact methods as (id, kind,
    address) in the order they were added, paging steps on those methods as (contact method id, delay
    seconds) earliest first (ties by position, then age), and whether any step is stored at all (one on
    a method that is gone or unverified counts: such a person gets no default steps)."""

    user_id: int
    deactivated: bool
    methods: list[tuple[int, ContactKind, str]]
    rules: list[tuple[int, int]]
    has_rules: bool


def people_rows(session: Session, handles: Collection[str] | None) -> dict[str, PersonRows]:
    """`PersonRows` by handle, of the users with `handles` (None: of everyone), in one statement."""
    if handles is None:
        rows = session.connection().execute(_people_query(None))
    else:  # a statement per number of handles: an expanding IN is rendered again at every execution
        params = {f"handle_{i}": handle for i, handle in enumerate(handles)}
        rows = session.connection().execute(_people_query(len(params)), params)
    found: dict[str, PersonRows] = {}
    steps: dict[str, list[tuple[int, int, int, int, int]]] = {}
    for row in rows:
        person = found.get(row.handle)
        if person is None:
            deactivated = row.deactivated_at is not None
            person = found[row.handle] = PersonRows(row.user_id, deactivated, [], [], bool(row.has_rules))
        if row.method_id is not None and (not person.methods or person.methods[-1][0] != row.method_id):
            person.methods.append((row.method_id, row.kind, row.address))
        if row.rule_id is not None:
            order = (row.delay_seconds, row.position, row.rule_id)
            steps.setdefault(row.handle, []).append((*order, row.method_id, row.delay_seconds))
    for handle, found_steps in steps.items():
        found[handle].rules.extend((method_id, delay) for *_, method_id, delay in sorted(found_steps))
    return found


@lru_cache(maxsize=16)
def _people_query(count: int | None) -> Any:
    tables = SQLModel.metadata.tables
    users, methods, rules = tables["users"], tables["contact_methods"], tables["notification_rules"]
    u, m, r = users.c, methods.c, rules.c
    any_rule = rules.alias("any_rule")
    has_rules = sql_select(any_rule.c.id).where(any_rule.c.user_id == u.id).exists()
    joined = users.outerjoin(methods, and_(m.user_id == u.id, m.verified.is_(True))).outerjoin(
        rules, and_(r.contact_method_id == m.id, r.user_id == u.id)
    )
    query = (
        sql_select(
            u.id.label("user_id"),
            u.handle,
            u.deactivated_at,
            has_rules.label("has_rules"),
            m.id.label("method_id"),
            m.kind,
            m.address,
            r.id.label("rule_id"),
            r.delay_seconds,
            r.position,
        )
        .select_from(joined)
        .order_by(u.id, m.id, r.id)
    )
    if count is None:
        return query
    return query.where(u.handle.in_([bindparam(f"handle_{i}") for i in range(count)]))


def contact_method_rows(session: Session, user_id: int) -> list[tuple[int, ContactKind, str]]:
    """A user's verified contact methods as (id, kind, address), in the order they were added
    (unverified ones are never paged)."""
    rows = session.connection().execute(_contact_methods_query(), {"user_id": user_id})
    return [(row.id, row.kind, row.address) for row in rows]


@lru_cache(maxsize=1)
def _contact_methods_query() -> Any:
    c = SQLModel.metadata.tables["contact_methods"].c
    return (
        sql_select(c.id, c.kind, c.address)
        .where(c.user_id == bindparam("user_id"), c.verified.is_(True))
        .order_by(c.id)
    )


def notification_rule_rows(session: Session, user_id: int) -> list[tuple[int, int]]:
    """A user's paging steps as (contact method id, delay seconds), earliest first (ties by position,
    then age)."""
    rows = session.connection().execute(_rules_query(), {"user_id": user_id})
    return [(row.contact_method_id, row.delay_seconds) for row in rows]


@lru_cache(maxsize=1)
def _rules_query() -> Any:
    c = SQLModel.metadata.tables["notification_rules"].c
    return (
        sql_select(c.contact_method_id, c.delay_seconds)
        .where(c.user_id == bindparam("user_id"))
        .order_by(c.delay_seconds, c.position, c.id)
    )
