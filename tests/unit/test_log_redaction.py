"""Access-log lines never hold integration keys or tokens (pager.log_format's redacting filter).

Records are built the way uvicorn's access logger makes them: the format string
`'%s - "%s %s HTTP/%s" %d'` with args (client_addr, method, full_path, http_version, status_code).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from pager.log_format import KeyValueFormatter, SecretRedactingFilter, configure_logging

KEY = "0123456789abcdef0123456789abcdef"
CALENDAR = "pgc_3q2-7wGx0kqfY9m1Zx_Lr5TnB8cVd2Ke4Hs6Ju0Pa9Q"
API = "pgr_Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8Ii9Jj0Kk1Ll2Mm3Nn4Oo5"
LINK = "eyJhIjo0MiwiYWN0IjoiYWNrIiwidSI6ImFubiJ9.Z2x1ZQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"
ACCESS_FORMAT = '%s - "%s %s HTTP/%s" %d'


def access_record(path: str, method: str = "GET", status: int = 200) -> logging.LogRecord:
    args = ("127.0.0.1:50000", method, path, "1.1", status)
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, ACCESS_FORMAT, args, None)


def access_line(path: str, method: str = "GET", status: int = 200) -> str:
    record = access_record(path, method, status)
    assert SecretRedactingFilter().filter(record) is True  # redacts, never drops a line
    return record.getMessage()


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        (f"/integrations/generic/{KEY}", "/integrations/generic/[redacted]"),
        (f"/integrations/alertmanager/{KEY}", "/integrations/alertmanager/[redacted]"),
        (f"/integrations/grafana/{KEY}?x=1", "/integrations/grafana/[redacted]?x=1"),
        ("/integrations/generic/not-a-hex-key", "/integrations/generic/[redacted]"),
        (f"/calendar/users/ann.ics?token={CALENDAR}", "/calendar/users/ann.ics?token=[redacted]"),
        (
            f"/calendar/schedules/team.ics?days=30&token={CALENDAR}&x=1",
            "/calendar/schedules/team.ics?days=30&token=[redacted]&x=1",
        ),
        ("/calendar/users/ann.ics?token=guessed-wrong", "/calendar/users/ann.ics?token=[redacted]"),
        (f"/ack/{LINK}", "/ack/[redacted]"),
        ("/anything?access_token=abc&api_key=def", "/anything?access_token=[redacted]&api_key=[redacted]"),
        (f"/v2/enqueue?routing_key={KEY}", "/v2/enqueue?routing_key=[redacted]"),
        (f"/api/v1/things/{API}", "/api/v1/things/pgr_[redacted]"),
        (f"/somewhere/{KEY}/else", "/somewhere/[redacted]/else"),
    ],
)
def test_secrets_in_the_request_line_are_redacted(path: str, shown: str) -> None:
    line = access_line(path)
    assert line == f'127.0.0.1:50000 - "GET {shown} HTTP/1.1" 200'
    for secret in (KEY, CALENDAR, API, LINK, "guessed-wrong", "abc", "def"):
        assert secret not in line


@pytest.mark.parametrize(
    "path",
    [
        "/healthz",
        "/api/v1/alerts/42/ack",
        "/api/v1/alerts?status=triggered&limit=50",
        "/twilio/status?page=42:c1:l1:v1:alice:sms:0",
        "/twilio/voice/gather?alert=42&attempt=1",
        "/api/v1/messages/SM0123456789abcdef0123456789abcdef",  # a Twilio sid: not a bare key
    ],
)
def test_lines_without_secrets_are_unchanged(path: str) -> None:
    assert access_line(path, "POST", 202) == f'127.0.0.1:50000 - "POST {path} HTTP/1.1" 202'


def test_tokens_are_redacted_in_any_argument_and_in_a_message_without_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, "seen %s %d %s", (f"a {API} b", 7, {"k": 1}), None
    )
    SecretRedactingFilter().filter(record)
    assert record.getMessage() == "seen a pgr_[redacted] b 7 {'k': 1}"

    bare = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, f"token={CALENDAR}", (), None)
    SecretRedactingFilter().filter(bare)
    assert bare.getMessage() == "token=[redacted]"


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back after the test."""
    root = logging.getLogger()
    access = logging.getLogger("uvicorn.access")
    saved = (root.handlers[:], root.level, access.filters[:])
    try:
        yield
    finally:
        root.handlers[:], root.level, access.filters[:] = saved


def test_configure_logging_installs_the_filter_once_on_the_access_logger(restored_logging: None) -> None:
    configure_logging()
    configure_logging()  # serve calls it; a second call must not stack filters
    access = logging.getLogger("uvicorn.access")
    assert sum(isinstance(f, SecretRedactingFilter) for f in access.filters) == 1

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(KeyValueFormatter())
    logging.getLogger().handlers[:] = [handler]
    access.info(ACCESS_FORMAT, "127.0.0.1:50000", "POST", f"/integrations/generic/{KEY}", "1.1", 202)
    line = stream.getvalue()
    shown = '127.0.0.1:50000 - "POST /integrations/generic/[redacted] HTTP/1.1" 202'
    assert f"logger=uvicorn.access {shown}" in line
    assert KEY not in line
