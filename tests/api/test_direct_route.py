"""`DirectRoute` calls its endpoint as it is, and refuses an endpoint FastAPI would have had to resolve."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel

from pager.api.direct_route import DirectRoute


class Body(BaseModel):
    x: int


async def _dependency() -> int:
    return 1


async def with_dependency(request: Request, n: Annotated[int, Depends(_dependency)]) -> Response:
    return Response()


async def with_body(request: Request, body: Body) -> Response:
    return Response()


async def with_query(request: Request, q: str) -> Response:
    return Response()


async def with_header(request: Request, x_token: Annotated[str, Header()]) -> Response:
    return Response()


async def with_int_path(request: Request, key: int) -> Response:
    return Response()


async def without_request(key: str) -> Response:
    return Response()


def sync_endpoint(request: Request) -> Response:
    return Response()


@pytest.mark.parametrize(
    ("path", "endpoint", "problem"),
    [
        ("/d", with_dependency, "dependencies ['n']"),
        ("/b", with_body, "body parameters ['body']"),
        ("/q", with_query, "query parameters ['q']"),
        ("/h", with_header, "header parameters ['x_token']"),
        ("/p/{key}", with_int_path, "non-text path parameters ['key']"),
        ("/r/{key}", without_request, "no `request: Request` parameter"),
        ("/s", sync_endpoint, "not an async function"),
    ],
)
def test_an_endpoint_fastapi_would_have_to_resolve_is_refused(path: str, endpoint: Any, problem: str) -> None:
    router = APIRouter(route_class=DirectRoute)
    with pytest.raises(TypeError) as refused:
        router.add_api_route(path, endpoint, methods=["POST"])
    assert problem in str(refused.value) and endpoint.__name__ in str(refused.value)


def test_the_endpoint_gets_the_request_and_its_text_path_parameters_and_its_response_goes_out_as_is() -> None:
    seen: list[tuple[str, str, bytes]] = []

    async def receive(request: Request, kind: str, key: str) -> Response:
        seen.append((kind, key, await request.body()))
        if key == "boom":
            raise LookupError(key)
        return Response(b'{"ok":1}', status_code=202, media_type="application/json", headers={"x-a": "1"})

    router = APIRouter(route_class=DirectRoute)
    router.add_api_route("/in/{kind}/{key}", receive, methods=["POST"], status_code=202)
    app = FastAPI()
    app.include_router(router)

    @app.exception_handler(LookupError)
    async def not_found(_request: Request, exc: LookupError) -> Response:
        return Response(f"no {exc}", status_code=404)

    client = TestClient(app)
    answer = client.post("/in/generic/k-1?key=other", content=b"body")
    assert (answer.status_code, answer.content, answer.headers["x-a"]) == (202, b'{"ok":1}', "1")
    assert seen == [("generic", "k-1", b"body")]  # the path's key, not the query's
    assert client.post("/in/generic/boom").status_code == 404  # raised: the app's handlers answer
    operation = client.get("/openapi.json").json()["paths"]["/in/{kind}/{key}"]["post"]
    assert [p["name"] for p in operation["parameters"]] == ["kind", "key"]
