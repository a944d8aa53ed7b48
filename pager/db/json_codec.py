"""JSON for the database columns: orjson, with the standard library for what orjson refuses."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """`value` as JSON text.

    orjson is several times faster on the escalation path's state documents. What it refuses
    (integers beyond 64 bits, datetimes, non-string keys) goes to `json.dumps`, which either encodes
    it as before or raises as before. NaN and infinities, which JSON does not have, are written as
    null (json.dumps wrote invalid JSON that Postgres refused); webhooks carrying them are refused
    at the edge (pager.services.ingest_payloads).
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


def loads(text: str | bytes) -> Any:
    """Parse JSON text; what orjson refuses (NaN, Infinity written by `json.dumps`) goes to `json.loads`."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
