"""JSON for the database columns: orjson, with the standard library for what orjson refuses."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(r"\d{19}")
_LONG_DIGITS_BYTES = re.compile(rb"\d{19}")


def dumps(value: Any) -> str:
    """`value` as JSON text.

    orjson is several times faster on the escalation path's state documents. What it refuses
    (integers beyond 64 bits, datetimes, non-string keys) goes to `json.dumps`, which either encodes
    it as before or raises as before. NaN and infinities, which JSON does not have, are written as
    null (json.dumps wrote invalid JSON that Postgres refused); webhooks carrying them are refused
    at the edge (pager.services.ingest.payloads).
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(value)


def loads(text: str | bytes) -> Any:
    """Parse JSON text; what orjson would misread or refuses goes to `json.loads`.

    orjson reads an integer beyond 64 bits as a float (losing digits): text with a run of 19 digits
    or more, which any such integer has, is read by the standard library. So is text orjson refuses
    (NaN or Infinity, which `json.dumps` wrote before this codec).
    """
    long_digits = _LONG_DIGITS.search(text) if isinstance(text, str) else _LONG_DIGITS_BYTES.search(text)
    if long_digits:
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
