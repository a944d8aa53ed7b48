"""Request bodies capped before they are read (pager.api.body_limits).

The middleware is driven through httpx's ASGITransport, which hands the app the body one chunk per
`receive`, pulled from the test's generator only when the app asks: so the tests see how much of a
body the app ever pulled. The real server under a 150 MB body is tests/e2e/test_body_limits_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
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
    BodyMemory,
    BodyTooLarge,
    pagerduty_memory_full,
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


# --- the memory for bodies held at once ----------------------------------------------------------


class Holding:
    """An app whose `/hold` answers only once `gate` is set, after reading its body; `/read` at once."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.holding = 0
        self.started = 0

    async def hold(self, request: Request) -> JSONResponse:
        self.started += 1
        body = await request.body()
        self.holding += 1
        await self.gate.wait()
        return JSONResponse({"size": len(body)})

    async def read(self, request: Request) -> JSONResponse:
        self.started += 1
        return JSONResponse({"size": len(await request.body())})

    def app(self, memory: BodyMemory) -> BodyLimitMiddleware:
        routes = [Route("/hold", self.hold, methods=["POST"]), Route("/read", self.read, methods=["POST"])]
        return BodyLimitMiddleware(Starlette(routes=routes), default=10_000, memory=memory)


def assert_memory_full(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "too_many_large_bodies"


async def until(condition: Any) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the app never got there")


def test_bodies_held_at_once_share_the_memory_half_per_client_past_their_free_bytes() -> None:
    """A host opening many connections, each with a body just under the cap, once held the sum of them
    all: 3,000 bodies of 512 KB took the demo from 124 MB to 1.7 GB."""
    memory = BodyMemory(total=1000, per_client=600, free=100)
    holding = Holding()
    app = holding.app(memory)

    def client(host: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(host, 123))
        return httpx.AsyncClient(transport=transport, base_url="http://test")

    async def run() -> None:
        async with client("10.0.0.1") as a, client("10.0.0.2") as b:
            held = [asyncio.create_task(a.post("/hold", content=b"x" * 400)) for _ in range(2)]
            await until(lambda: holding.holding == 2)
            assert memory.held == 600  # 300 each: the first 100 bytes of a body are free
            # a's share is full: refused before its app runs, unless the body fits in the free bytes
            assert_memory_full(await a.post("/read", content=b"x" * 101))
            assert holding.started == 2
            assert (await a.post("/read", content=b"x" * 100)).json() == {"size": 100}
            # b has its own share, up to what is left of the whole
            held.append(asyncio.create_task(b.post("/hold", content=b"x" * 500)))
            await until(lambda: holding.holding == 3)
            assert memory.held == 1000
            assert_memory_full(await b.post("/read", content=b"x" * 101))
            holding.gate.set()
            assert [(await task).json() for task in held] == [{"size": 400}, {"size": 400}, {"size": 500}]
            assert memory.held == 0
            assert (await a.post("/read", content=b"x" * 700)).json() == {"size": 700}
            assert memory.held == 0

    asyncio.run(run())


def test_a_chunked_body_is_refused_when_the_memory_cannot_hold_more_of_it() -> None:
    memory = BodyMemory(total=1000, per_client=600, free=100)
    body = Chunks(5000)
    assert_memory_full(post(Holding().app(memory), "/read", body))
    assert body.pulled == 71  # 710 bytes: 610 past the free 100, over the share of 600; not one more
    assert memory.held == 0
    assert post(Holding().app(memory), "/read", Chunks(700)).json() == {"size": 700}


def test_a_route_with_its_own_error_shape_answers_a_full_memory_in_it() -> None:
    caps = (BodyCap("/pd/", 10_000, pagerduty_too_large, pagerduty_memory_full),)
    routes = [Route("/{path:path}", Reading().read, methods=["POST"])]
    app = BodyLimitMiddleware(Starlette(routes=routes), caps=caps, memory=BodyMemory(total=1000, free=100))
    for content in (b"x" * 1000, Chunks(1000)):
        response = post(app, "/pd/enqueue", content)
        assert (response.status_code, response.headers["retry-after"]) == (503, "1")
        assert response.json() == {
            "status": "unavailable",
            "message": "too many large request bodies are being received at once; retry shortly",
            "errors": ["too many large request bodies are being received at once"],
        }


def test_a_client_gone_before_its_body_was_whole_ends_the_request_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The read timeout closes a connection whose body stalls: uvicorn logged a traceback for each."""
    caplog.set_level(logging.INFO, logger="pager.api")
    first = {"type": "http.request", "body": b"x" * 200, "more_body": True}
    messages = iter([first, {"type": "http.disconnect"}])
    memory = BodyMemory(total=1000, free=100)
    sent: list[Any] = []

    async def receive() -> Any:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message)

    async def reading(scope: Any, receive: Any, send: Any) -> None:  # the routes, without Starlette's 500
        await Request(scope, receive).body()

    scope = {"type": "http", "method": "POST", "path": "/read", "headers": [], "client": ("10.0.0.1", 1)}
    asyncio.run(BodyLimitMiddleware(reading, memory=memory)(scope, receive, send))
    assert sent == []
    assert memory.held == 0
    assert "client_disconnected path=/read received=200 client=10.0.0.1" in caplog.text


def test_the_memory_counts_in_bytes_and_frees_what_it_held() -> None:
    memory = BodyMemory(total=100, per_client=60, free=10)
    assert [memory.take("a", 60), memory.take("a", 1), memory.take("b", 41)] == [
        None,
        "client_full",
        "server_full",
    ]
    assert memory.take("b", 40) is None
    memory.give_back("a", 60)
    assert (memory.held, memory.held_by("a"), memory.take("a", 60)) == (40, 0, None)


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
