"""Request bodies capped before they are read (pager.api.body_limits).

The middleware is driven through httpx's ASGITransport, which hands the app the body one chunk per
`receive`, pulled from the test's generator only when the app asks: so the tests see how much of a
body the app ever pulled. The real server under a 150 MB body is tests/e2e/test_body_limits_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pager.api.app import create_app
from pager.api.body_limits import (
    DEFAULT_MAX_BODY_BYTES,
    BodyCap,
    BodyLimitMiddleware,
    BodyTooLarge,
    pagerduty_too_large,
)
from tests import support

CHUNK = 10


class Reading:
    """An app that reads the whole body (or swallows BodyTooLarge and answers 200 anyway)."""

    def __init__(self) -> None:
        self.bodies: list[int] = []
        self.started = 0

    async def read(self, request: Request) -> JSONResponse:
        self.started += 1
        body = await request.body()
        self.bodies.append(len(body))
        return JSONResponse({"size": len(body)})

    async def swallow(self, request: Request) -> JSONResponse:
        try:
            await request.body()
        except BodyTooLarge:
            try:
                await request.receive()  # reading on regardless gets nothing more
            except BodyTooLarge:
                return JSONResponse({"ignored": True})  # what the client must never see
        return JSONResponse({"read": True})

    def app(self) -> BodyLimitMiddleware:
        routes = [
            Route("/swallow", self.swallow, methods=["POST"]),
            Route("/{path:path}", self.read, methods=["POST"]),
        ]
        caps = (BodyCap("/small/", 100), BodyCap("/pd/", 100, pagerduty_too_large))
        return BodyLimitMiddleware(Starlette(routes=routes), caps=caps, default=1000)


class Chunks:
    """A body without a length, sent CHUNK bytes at a time; counts the chunks the app pulled."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(0, self.size, CHUNK):
            self.pulled += 1
            yield b"x" * CHUNK


def post(app: Any, path: str, content: bytes | Chunks) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post(path, content=content)

    return asyncio.run(run())


def assert_too_large(response: httpx.Response, limit: str) -> None:
    assert response.status_code == 413, response.text
    assert response.json() == {
        "error": {
            "code": "payload_too_large",
            "message": f"the request body is larger than the {limit} limit",
            "details": [],
        }
    }


def test_a_declared_length_over_the_cap_is_refused_before_the_app_runs() -> None:
    reading = Reading()
    assert_too_large(post(reading.app(), "/small/x", b"x" * 101), "100 bytes")
    assert_too_large(post(reading.app(), "/other", b"x" * 1001), "1000 bytes")
    assert reading.started == 0


def test_bodies_up_to_the_cap_are_read_whole() -> None:
    reading = Reading()
    assert post(reading.app(), "/small/x", b"x" * 100).json() == {"size": 100}
    assert post(reading.app(), "/other", b"x" * 1000).json() == {"size": 1000}
    body = Chunks(100)
    assert post(reading.app(), "/small/x", body).json() == {"size": 100}
    assert reading.bodies == [100, 1000, 100]


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_cap() -> None:
    reading = Reading()
    body = Chunks(10_000_000)
    assert_too_large(post(reading.app(), "/small/x", body), "100 bytes")
    assert body.pulled == 100 // CHUNK + 1  # the chunk that passed the cap, and not one more
    assert reading.bodies == []  # the app's read raised


def test_the_apps_own_answer_to_the_refusal_is_dropped() -> None:
    body = Chunks(100_000)
    assert_too_large(post(Reading().app(), "/swallow", body), "1000 bytes")
    assert body.pulled == 1000 // CHUNK + 1


def test_a_route_with_its_own_error_shape_answers_in_it() -> None:
    for content in (b"x" * 101, Chunks(1000)):
        response = post(Reading().app(), "/pd/enqueue", content)
        assert response.status_code == 400
        assert response.json() == {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": ["body: the event is larger than the 100 bytes limit"],
        }


# --- the application's caps ----------------------------------------------------------------------


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    config_dir = support.write_config(tmp_path / "config", {}, {})
    runtime = support.console_runtime(engine, config_dir, twilio_auth_token="token")
    with TestClient(create_app(runtime, run_worker=False)) as test_client:
        yield test_client


@pytest.mark.database
def test_the_app_caps_every_route(client: TestClient) -> None:
    """The REST API would read (and parse) a body of any size before asking for a token."""
    user = {"handle": "ann", "name": "x" * DEFAULT_MAX_BODY_BYTES}
    response = client.post("/api/v1/users", content=json.dumps(user).encode())
    assert response.status_code == 413, response.text
    assert response.json()["error"]["message"] == "the request body is larger than the 1 MB limit"
    # No length to judge by: authentication refuses it before anything reads the body.
    chunked = client.post("/api/v1/users", content=iter([b"x" * 65536] * 20))
    assert chunked.status_code == 401, chunked.text
    twilio = client.post("/twilio/sms", content=iter([b"x" * 65536] * 2), headers={"X-Twilio-Signature": "x"})
    assert twilio.json()["error"]["message"] == "the request body is larger than the 64 KB limit"
    integration = client.post("/integrations/generic/" + "0" * 32, content=b"x" * (512 * 1024 + 1))
    assert integration.json()["error"]["message"] == "the request body is larger than the 512 KB limit"
    enqueue = client.post("/v2/enqueue", content=iter([b"x" * 65536] * 9))
    assert enqueue.status_code == 400
    assert enqueue.json()["errors"] == ["body: the event is larger than the 512 KB limit"]
