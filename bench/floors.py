"""Same-run floors for bench/escalation.py: the raw driver's writes and a bare twilio SDK loop.

Kept apart from the benchmark script so each stays readable; not a benchmark itself (no `main`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine

from pager.adapters.twilio_client import make_client, page_status_callback

# The engine's own figures, imported so the floors never drift from them: the escalation batch (one
# transaction decides this many alerts) and the worker's parallel provider calls.
from pager.services.alerting.escalation import BATCH as DECIDE_BATCH
from pager.services.delivery.pump import SENDERS

ALERT_COLUMNS = ("status", "level", "loop", "next_action_at", "escalation_state", "updated_at")


def high_water(engine: Engine) -> dict[str, int]:
    """The largest id in outbox and alert_timeline: rows above it were written afterwards."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        marks = {}
        for table in ("outbox", "alert_timeline"):
            cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
            marks[table] = int(cursor.fetchone()[0])
        raw.commit()
        return marks
    finally:
        raw.close()


def _rows(cursor: Any, query: str, params: Sequence[Any]) -> tuple[list[str], list[tuple[Any, ...]]]:
    cursor.execute(query, params)
    names = [d[0] for d in cursor.description]
    return names, [tuple(row) for row in cursor.fetchall()]


def write_floor(engine: Engine, marks: dict[str, int], decided: Sequence[int]) -> dict[str, Any]:
    """Redo, with the raw DBAPI driver, exactly the writes the engine made deciding `decided`.

    Read back what the engine wrote (the alerts' new columns, the outbox and timeline rows above
    `marks`), then, per batch of DECIDE_BATCH alerts in one transaction: one executemany UPDATE of
    alerts by id, one executemany INSERT of the outbox rows (idempotency keys suffixed, as they are
    unique), one executemany INSERT of the timeline rows. No ORM, no SQLAlchemy, no decision logic.
    """
    postgres = engine.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        wanted = set(decided)
        _alert_names, alert_rows = _rows(
            cursor, f"SELECT id, {', '.join(ALERT_COLUMNS)} FROM alerts ORDER BY id", ()
        )
        out_names, out_rows = _rows(
            cursor, f"SELECT * FROM outbox WHERE id > {mark} ORDER BY id", (marks["outbox"],)
        )
        # The decision's own lines; delivery's (page_sent, page_attempt, ...) came after it.
        line_names, line_rows = _rows(
            cursor,
            f"SELECT * FROM alert_timeline WHERE id > {mark} AND kind NOT LIKE {mark} ORDER BY id",
            (marks["alert_timeline"], "page%"),
        )
        raw.commit()
        if postgres:
            from psycopg.types.json import Jsonb

            def adapt(value: Any) -> Any:
                return Jsonb(value) if isinstance(value, dict | list) else value
        else:

            def adapt(value: Any) -> Any:
                return value

        updates = {row[0]: (*(adapt(v) for v in row[1:]), row[0]) for row in alert_rows if row[0] in wanted}
        key_at = out_names.index("idempotency_key")
        outbox: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in out_rows:
            values = [adapt(v) for v in row[1:]]
            values[key_at - 1] = f"{values[key_at - 1]}:floor"
            outbox[row[out_names.index("alert_id")]].append(tuple(values))
        timeline: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in line_rows:
            timeline[row[line_names.index("alert_id")]].append(tuple(adapt(v) for v in row[1:]))

        assignments = ", ".join(f'"{c}" = {mark}' for c in ALERT_COLUMNS)
        update_sql = f"UPDATE alerts SET {assignments} WHERE id = {mark}"
        outbox_sql = _insert("outbox", out_names[1:], mark)
        timeline_sql = _insert("alert_timeline", line_names[1:], mark)
        ids = [a for a in decided if a in updates]
        began = time.perf_counter()
        for start in range(0, len(ids), DECIDE_BATCH):
            chunk = ids[start : start + DECIDE_BATCH]
            if not postgres:  # the engine's pysqlite connections run in autocommit: one transaction
                cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(update_sql, [updates[a] for a in chunk])
            cursor.executemany(outbox_sql, [row for a in chunk for row in outbox[a]])
            lines = [row for a in chunk for row in timeline[a]]
            if lines:
                cursor.executemany(timeline_sql, lines)
            raw.commit()
        elapsed = time.perf_counter() - began
    finally:
        raw.close()
    rows_written = len(ids) + sum(len(outbox[a]) + len(timeline[a]) for a in ids)
    return {
        "floor_rate": round(len(ids) / elapsed, 1) if elapsed else None,
        "floor_s": round(elapsed, 3),
        "floor_alerts": len(ids),
        "floor_rows_written": rows_written,
        "floor_batch": DECIDE_BATCH,
    }


def _insert(table: str, columns: Sequence[str], mark: str) -> str:
    quoted = ", ".join(f'"{c}"' for c in columns)
    return f"INSERT INTO {table} ({quoted}) VALUES ({', '.join(mark for _ in columns)})"


def sdk_send_loop(
    fake_url: str,
    account_sid: str,
    auth_token: str,
    from_number: str,
    public_url: str,
    pages: Sequence[tuple[str, str]],
) -> float:
    """Send (to, body) `pages` with the bare twilio SDK from SENDERS threads; returns wall seconds.

    The client is built as the worker's is (make_client: the same kept-alive connection pool), each
    call carries a status callback URL as the worker's do; nothing else — no claim, no record.
    """
    client = make_client(account_sid, auth_token, fake_url)
    callback = f"{public_url.rstrip('/')}/twilio/status"

    def send(item: tuple[int, tuple[str, str]]) -> None:
        n, (to, body) = item
        client.messages.create(
            to=to, from_=from_number, body=body, status_callback=page_status_callback(callback, f"floor:{n}")
        )

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        list(pool.map(send, enumerate(pages)))
    return time.perf_counter() - began
