"""Every error the API answers has one shape: `{"error": {"code", "message", "details"}}`.

Domain errors are mapped to HTTP here and nowhere else. (The PagerDuty-compatible /v2/enqueue keeps
PagerDuty's own error body, as clients of that API expect; its router answers that itself, with the
reason `database_unavailable` gives.) A database that cannot be reached or written is a 503 with
Retry-After, never a 500: the sender should retry (with its dedup key a retry cannot open a second
alert).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pager.core.localtime import NaiveInstantError
from pager.db.session import WriterBusy
from pager.services.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    TooMany,
    Unavailable,
)

_STATUS: list[tuple[type[Exception], int, str]] = [
    (NotFound, 404, "not_found"),
    (Forbidden, 403, "forbidden"),
    (Conflict, 409, "conflict"),
    (InvalidInput, 422, "invalid_input"),
    (TooMany, 429, "throttled"),
    (Unavailable, 503, "unavailable"),
    (NaiveInstantError, 422, "invalid_input"),
]

log = logging.getLogger("pager.api")

DATABASE_RETRY_AFTER_SECONDS = 5


def database_unavailable(request: Request, exc: Exception) -> str | None:
    """Why the database cannot serve `request` now (and a log line saying so), or None when `exc` is
    not such a failure (a lost or refused connection, a read-only or locked file: the driver's
    OperationalError/InterfaceError, or any error that invalidated the connection)."""
    if not isinstance(exc, DBAPIError):
        return None
    if not (isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated):
        return None
    detail = " ".join(str(exc.orig).split())  # the driver's words, on one line (never the SQL)
    lowered = detail.lower()
    if "readonly" in lowered or "read-only" in lowered:
        reason = "the database refuses writes (read-only)"
    elif "disk i/o error" in lowered:
        reason = "the database cannot write to its disk"
    elif "database is locked" in lowered:
        reason = "the database is busy"
    else:
        reason = "the database is unavailable"
    log.warning(
        "database_unavailable method=%s path=%s error=%s: %r",
        request.method,
        request.url.path,
        type(exc.orig).__name__,
        detail,
    )
    return reason


def domain_status(exc: Exception) -> tuple[int, str]:
    """The HTTP status and error code of a domain error (the console's pages answer with these too)."""
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            return status, code
    return 400, "bad_request"


def error_body(code: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    """The one error document."""
    return {"error": {"code": code, "message": message, "details": details or []}}


def error_response(status: int, code: str, message: str, details: list[Any] | None = None) -> JSONResponse:
    """A JSONResponse carrying the one error document."""
    return JSONResponse(status_code=status, content=error_body(code, message, details))


def install_error_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and HTTP errors to the one error shape."""

    async def on_domain(_request: Request, exc: Exception) -> JSONResponse:
        status, code = domain_status(exc)
        response = error_response(status, code, str(exc))
        if status == 503:
            response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response

    async def on_validation(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = [
            {"field": ".".join(str(part) for part in error.get("loc", ())), "message": error.get("msg", "")}
            for error in exc.errors()
        ]
        fields = ", ".join(d["field"] for d in details) or "the request"
        return error_response(422, "invalid_input", f"invalid {fields}", details)

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
            429: "throttled",
        }.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        response = error_response(exc.status_code, code, message)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def on_writer_busy(_request: Request, exc: Exception) -> JSONResponse:
        response = error_response(503, "database_busy", f"{exc}; retry later")
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response

    async def on_database(request: Request, exc: Exception) -> JSONResponse:
        reason = database_unavailable(request, exc)
        if reason is None:
            raise exc  # a bug, not an outage: the server's own 500 and traceback
        response = error_response(503, "database_unavailable", f"{reason}; retry later")
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response

    app.add_exception_handler(WriterBusy, on_writer_busy)
    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(DBAPIError, on_database)
    app.add_exception_handler(NaiveInstantError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
