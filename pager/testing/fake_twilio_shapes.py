"""JSON shapes of the Twilio REST API used by the fake: error bodies, list filters and list pages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from pager.testing.json_http import Answer

ResourceRow = tuple[dict[str, Any], datetime | None, datetime | None]
"""A resource document with its sent/start instant and its end instant (calls), for filtering."""

API_VERSION = "2010-04-01"
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PAGING_KEYS = ("Page", "PageSize", "PageToken")
_DEFAULT_PAGE_SIZE = 50
_MAX_PAGE_SIZE = 1000


def twilio_error(status: int, code: int, message: str) -> Answer:
    """The legacy error body the 2010-04-01 API returns: code, message, more_info, status."""
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return status, {"code": code, "message": message, "more_info": more_info, "status": status}


def auth_error() -> Answer:
    """401 for a missing or wrong account SID / auth token."""
    status, doc = twilio_error(401, 20003, "Authenticate")
    doc["detail"] = "Your AccountSid or AuthToken was incorrect."
    return status, doc


def not_found(path: str) -> Answer:
    """404 for an unknown resource or route."""
    return twilio_error(404, 20404, f"The requested resource {path} was not found")


def fault_answer(kind: str, to: str) -> Answer:
    """The error answer an injected fault of `kind` (server_error, rate_limited, invalid_to) gives."""
    if kind == "server_error":
        return twilio_error(500, 20500, "An internal server error has occurred")
    if kind == "rate_limited":
        return twilio_error(429, 20429, "Too Many Requests")
    if kind == "invalid_to":
        return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    raise ValueError(f"not an error fault: {kind}")


def rfc2822(instant: datetime | None) -> str | None:
    """Dates as the API writes them: `Mon, 23 Nov 2026 13:18:31 +0000`."""
    return None if instant is None else format_datetime(instant)


def create_problem(collection: str, form: dict[str, str]) -> Answer | None:
    """The 400 the real API gives for a create with missing or invalid parameters, or None."""
    to, from_ = form.get("To", ""), form.get("From", "")
    if collection == "Messages":
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not from_ and "MessagingServiceSid" not in form:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not form.get("Body") and "MediaUrl" not in form and "ContentSid" not in form:
            return twilio_error(400, 21602, "Message body is required.")
    else:
        if not to:
            return twilio_error(400, 21201, "No 'To' number is specified")
        if not from_:
            return twilio_error(400, 21213, "No 'From' number is specified")
        if not any(key in form for key in ("Url", "Twiml", "ApplicationSid")):
            return twilio_error(400, 21205, "Url parameter is required.")
    if not _E164.match(to):
        return fault_answer("invalid_to", to)
    return None


def new_document(collection: str, form: dict[str, str], account_sid: str, now: datetime) -> dict[str, Any]:
    """A freshly created, `queued` Message or Call resource as the API returns it."""
    sid = ("SM" if collection == "Messages" else "CA") + uuid.uuid4().hex
    base = f"/{API_VERSION}/Accounts/{account_sid}/{collection}/{sid}"
    doc: dict[str, Any] = {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "date_created": rfc2822(now),
        "date_updated": rfc2822(now),
        "direction": "outbound-api",
        "from": form.get("From"),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "to": form["To"],
        "uri": f"{base}.json",
    }
    if collection == "Messages":
        body = form.get("Body", "")
        return doc | {
            "body": body,
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": str(1 if len(body) <= 160 else -(-len(body) // 153)),
            "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
        }
    return doc | {
        "annotation": None,
        "answered_by": None,
        "caller_name": None,
        "duration": None,
        "end_time": None,
        "forwarded_from": None,
        "from_formatted": form.get("From"),
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "queue_time": "0",
        "start_time": None,
        "subresource_uris": {"notifications": f"{base}/Notifications.json"},
        "to_formatted": form["To"],
        "trunk_sid": None,
    }


def _covered(value: str) -> tuple[datetime, datetime]:
    """First and last second a filter value covers: a whole UTC day for a date, else that second."""
    if _DATE_ONLY.match(value):
        first = datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        return first, first + timedelta(days=1, seconds=-1)
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"Invalid date: {value}") from None
    instant = (instant if instant.tzinfo else instant.replace(tzinfo=UTC)).astimezone(UTC)
    instant = instant.replace(microsecond=0)
    return instant, instant


def _time_matches(instant: datetime | None, name: str, query: dict[str, str]) -> bool:
    """Apply `Name` (same day/second), `Name>` (on or after) and `Name<` (on or before) filters."""
    checks = [(query.get(name), "="), (query.get(name + ">"), ">"), (query.get(name + "<"), "<")]
    for value, op in checks:
        if value is None:
            continue
        if instant is None:
            return False
        first, last = _covered(value)
        if (op in "=>" and instant < first) or (op in "=<" and instant > last):
            return False
    return True


def filter_resources(
    rows: Sequence[ResourceRow], collection: str, query: dict[str, str]
) -> list[dict[str, Any]]:
    """The documents of `rows` that pass the list filters in `query` (raises ValueError on a bad date)."""
    exact = {"To": "to", "From": "from"}
    if collection == "Calls":
        exact |= {"Status": "status", "ParentCallSid": "parent_call_sid"}
    kept = []
    for doc, started, ended in rows:
        if any(key in query and doc.get(attr) != query[key] for key, attr in exact.items()):
            continue
        if collection == "Messages":
            timed = _time_matches(started, "DateSent", query)
        else:
            timed = _time_matches(started, "StartTime", query) and _time_matches(ended, "EndTime", query)
        if timed:
            kept.append(doc)
    return kept


def list_page(
    docs: list[dict[str, Any]], collection: str, path: str, query: dict[str, str]
) -> dict[str, Any]:
    """One page of `docs` (newest first) with the paging links the SDK follows (`next_page_uri`)."""
    size = min(max(int(query.get("PageSize", _DEFAULT_PAGE_SIZE)), 1), _MAX_PAGE_SIZE)
    page = max(int(query.get("Page", 0)), 0)
    token = query.get("PageToken")
    if token:
        # "PA" + the SID of the last record of the previous page, as the real API does.
        sids = [doc["sid"] for doc in docs]
        start = sids.index(token[2:]) + 1 if token[2:] in sids else len(docs)
    else:
        start = page * size
    items = docs[start : start + size]
    filters = {key: value for key, value in query.items() if key not in _PAGING_KEYS}

    def uri(number: int, page_token: str | None = None) -> str:
        params: dict[str, Any] = filters | {"PageSize": size, "Page": number}
        if page_token:
            params["PageToken"] = page_token
        return f"{path}?{urlencode(params)}"

    has_next = bool(items) and start + size < len(docs)
    return {
        collection.lower(): items,
        "end": start + len(items) - 1 if items else start,
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1, "PA" + items[-1]["sid"]) if has_next else None,
        "page": page,
        "page_size": size,
        "previous_page_uri": uri(page - 1) if page > 0 else None,
        "start": start,
        "uri": uri(page, token),
    }
