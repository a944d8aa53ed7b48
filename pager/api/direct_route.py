"""`DirectRoute`: an APIRoute whose endpoint FastAPI documents but does not call through its
dependency machinery.

The ingest routes take the request (and their text path parameters) and return a Response they
built themselves. FastAPI's request handler still solved an empty set of dependencies for them,
parsed the query string and looked the returned response over: bench/ingest.py measured the
server's CPU a deduplicated event 0.43 → 0.39 ms, a new alert 0.90 → 0.85 ms without it
(docs/architecture.md, "One alert, from webhook to SMS and back").
FastAPI's documented extension point for this is an APIRoute subclass overriding
`get_route_handler`; the route keeps everything else (OpenAPI, matching, the body-size limit).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class DirectRoute(APIRoute):
    """A route whose endpoint is `async def endpoint(request, **path_params) -> Response`, called as is.

    Refused when built for any other endpoint (dependencies, a body, query, header or cookie
    parameters, a path parameter that is not text, a sync function): FastAPI would have resolved
    those, and this route would silently not.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        dependant = self.dependant
        not_text = [p for p in dependant.path_params if p.field_info.annotation is not str]
        problems = [
            f"{kind} {[param.name for param in params]}"
            for kind, params in (
                ("dependencies", dependant.dependencies),
                ("body parameters", dependant.body_params),
                ("query parameters", dependant.query_params),
                ("header parameters", dependant.header_params),
                ("cookie parameters", dependant.cookie_params),
                ("non-text path parameters", not_text),
            )
            if params
        ]
        if dependant.request_param_name != "request":
            problems.append("no `request: Request` parameter")
        if not inspect.iscoroutinefunction(endpoint):
            problems.append("not an async function")
        if problems:
            raise TypeError(f"DirectRoute {path}: {endpoint.__name__} has {'; '.join(problems)}")

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            response: Response = await endpoint(request, **request.path_params)
            return response

        return handle
