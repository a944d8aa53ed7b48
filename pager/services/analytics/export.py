"""Exports (docs/analytics.md, "Exports"): alerts, pages, incidents, timeline lines and action items
of a window as CSV or a JSON array, streamed.

Memory stays flat in the row count: rows are read `CHUNK` at a time by keyset (the last id seen),
each chunk in a short read-only transaction of its own that is closed before the chunk is yielded,
so nothing holds a transaction (or SQLite's reader) while the client reads, and the text goes out a
chunk at a time. Rows written after the export started, with ids above the last one read, may
appear; nothing is seen twice or skipped.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Engine

from pager.core.localtime import format_instant
from pager.db import export_queries
from pager.db.export_queries import ChunkQuery, Row
from pager.db.session import session_scope
from pager.services.analytics.report import check_window
from pager.services.errors import InvalidInput

ExportKind = Literal["alerts", "pages", "incidents", "timeline", "actions"]
ExportFormat = Literal["csv", "json"]
EXPORT_KINDS: tuple[str, ...] = ("alerts", "pages", "incidents", "timeline", "actions")
EXPORT_FORMATS: tuple[str, ...] = ("csv", "json")
CHUNK = 1000
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def _page_row(row: Row) -> list[Any]:
    (id_, alert_id, user, method, address, status, created, due, attempted, provider_id, updated,
     attempts, error) = row  # fmt: skip
    sent_at = attempted if provider_id is not None else None
    delivered_at = updated if status == "delivered" else None
    return [id_, alert_id, user, method, address, status, created, due, sent_at, delivered_at,
            attempts, provider_id, error]  # fmt: skip


def _columns(names: str) -> tuple[str, ...]:
    return tuple(names.split())


@dataclass(frozen=True)
class ExportKindSpec:
    columns: tuple[str, ...]
    queries: tuple[ChunkQuery, ...]  # read one after the other
    shape: Callable[[Row], Sequence[Any]] = list


TIMELINE_COLUMNS = ("source", "parent_id", "id", "at", "kind", "actor", "message", "data")
SPECS: dict[str, ExportKindSpec] = {
    "alerts": ExportKindSpec(
        _columns(
            "id service dedup_key summary severity source status triggered_at acknowledged_at "
            "acknowledged_by resolved_at resolved_by event_count"
        ),
        (export_queries.alerts_chunk,),
    ),
    "pages": ExportKindSpec(
        _columns(
            "id alert_id user method address status created_at due_at sent_at delivered_at "
            "attempts provider_id last_error"
        ),
        (export_queries.pages_chunk,),
        _page_row,
    ),
    "incidents": ExportKindSpec(
        _columns(
            "id number title severity status drill customer_impact declared_by "
            "impact_started_at detected_at declared_at acknowledged_at identified_at "
            "mitigated_at resolved_at closed_at"
        ),
        (export_queries.incidents_chunk,),
    ),
    "timeline": ExportKindSpec(
        TIMELINE_COLUMNS, (export_queries.alert_timeline_chunk, export_queries.incident_timeline_chunk)
    ),
    "actions": ExportKindSpec(
        _columns("id incident_id title owner due_on status link created_by created_at done_at"),
        (export_queries.actions_chunk,),
    ),
}


def export_columns(what: str) -> tuple[str, ...]:
    """The columns of export `what`, in order (InvalidInput for an unknown one)."""
    return _spec(what).columns


def _spec(what: str) -> ExportKindSpec:
    spec = SPECS.get(what)
    if spec is None:
        raise InvalidInput(f"what: {what!r} is not one of {', '.join(EXPORT_KINDS)}")
    return spec


def export_text(
    engine: Engine,
    what: str,
    fmt: str,
    start: datetime,
    end: datetime,
    *,
    drill: bool = False,
    chunk: int = CHUNK,
) -> Iterator[str]:
    """The export as pieces of text, one per chunk of rows. Checks its arguments at once
    (InvalidInput), before the first piece is asked for, so an edge can still answer with an error."""
    spec = _spec(what)
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"format: {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    start, end = check_window(start, end)
    rows = _chunks(engine, spec, start, end, drill, chunk)
    return _csv(spec.columns, rows) if fmt == "csv" else _json(spec.columns, rows)


def _chunks(
    engine: Engine, spec: ExportKindSpec, start: datetime, end: datetime, drill: bool, chunk: int
) -> Iterator[list[Sequence[Any]]]:
    for query in spec.queries:
        after = 0
        while True:
            with session_scope(engine, read_only=True) as session:
                rows = query(session, start, end, drill, after, chunk)
            if not rows:
                break
            after = rows[-1][0]
            yield [spec.shape(row[1:]) for row in rows]  # outside the transaction
            if len(rows) < chunk:
                break


def _csv(columns: Sequence[str], chunks: Iterator[list[Sequence[Any]]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    yield _drain(buffer)
    for rows in chunks:
        writer.writerows([_csv_value(value) for value in row] for row in rows)
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _json(columns: Sequence[str], chunks: Iterator[list[Sequence[Any]]]) -> Iterator[str]:
    yield "["
    first = True
    for rows in chunks:
        pieces = []
        for row in rows:
            document = {name: _json_value(value) for name, value in zip(columns, row, strict=True)}
            pieces.append(("\n" if first else ",\n") + json.dumps(document, ensure_ascii=False))
            first = False
        yield "".join(pieces)
    yield "\n]\n" if not first else "]\n"


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return str(_json_value(value))
