"""JSON for the database columns: orjson, with the standard library for what orjson refuses."""

from __future__ import annotations

import json
from typing import Any

import orjson

# A JSON number is ASCII digits; each is mapped to "0" so that a run of 19 is a plain substring
# search (a regex scan took 10 µs per state document, seven times orjson's parse of it).
_DIGITS_TO_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_RUN = b"0" * 19


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
    if _has_long_digit_run(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _has_long_digit_run(text: str | bytes) -> bool:
    """Whether `text` holds 19 ASCII digits in a row (UTF-8 encodes nothing else with those bytes)."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return _LONG_RUN in raw.translate(_DIGITS_TO_ZERO)
